"""The restoration objective: learn to undo a degradation from clean patches alone.

Each step degrades the clean batch on the device (``objective.degradation``, drawn from the
global RNG, whose state the checkpoint keeps, so a resumed run sees the same noise) and
trains the restorer to map the observation back:

    x01 = (x + 1) / 2;  y, known = degradation(x01);  x_hat = net(2 y - 1, known sigma)
    loss = mean |x_hat - x|  (l1)   or   mean (x_hat - x)^2  (l2)

The degradation is one mapping in the config, its name plus its parameters, e.g.
``degradation: {name: gaussian-noise, sigma: 25}`` (see ``pixelsmith list``). The learning
rate schedule (DnCNN: 10x lower late in training) is the trainer's: ``train.lr_schedule:
step`` with ``train.lr_milestones`` and ``train.lr_gamma``; the loss logs the rate in use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from pixelsmith.config.schema import choice
from pixelsmith.data.degradations import Degradation, make_degradation
from pixelsmith.data.image_files import side_by_side
from pixelsmith.data.transforms import from_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.paired import psnr
from pixelsmith.objectives.base import Batch, Objective, Phase, adam
from pixelsmith.registry import OBJECTIVES

TASKS = {"gaussian-noise": "denoise", "poisson-gaussian": "denoise", "salt-pepper": "denoise",
         "bicubic-down": "sr", "blur": "deblur"}
GRID_SIZE = 96  # side of the crops shown in sample grids (fits 2, 3 and 4 after rounding)


@dataclass
class RestorationObjectiveConfig:
    name: str = "restoration"
    degradation: dict[str, Any] = field(
        default_factory=lambda: {"name": "gaussian-noise", "sigma": 25.0})
    loss: str = choice("l2", "l2", "l1", help="l2: mean squared error; l1: mean absolute error")
    lr: float = 1e-3  # the initial rate; train.lr_schedule changes it over the steps
    betas: tuple[float, float] = (0.9, 0.999)


def degradation_from_config(spec: Any) -> tuple[str, dict, Degradation]:
    """(name, params, degradation) from ``objective.degradation``, errors naming the key."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise PixelsmithError("'objective.degradation' must be a mapping with a 'name' (e.g. "
                              f"{{name: gaussian-noise, sigma: 25}}), got {spec!r}")
    params = {k: v for k, v in spec.items() if k != "name"}
    try:
        deg = make_degradation(spec["name"], **params)
    except PixelsmithError as e:
        raise PixelsmithError(f"objective.degradation: {e}") from None
    return spec["name"], params, deg


def check_model_fits(net, deg_name: str, params: dict, deg: Degradation) -> None:
    """SR nets and bicubic-down go together, with one scale."""
    net_scale = getattr(net, "scale", 1)
    deg_scale = getattr(deg, "scale", 1) if deg_name == "bicubic-down" else 1
    if net_scale != deg_scale:
        if deg_name != "bicubic-down":
            raise PixelsmithError(f"model.scale is {net_scale} (a super-resolution model) but "
                                  f"objective.degradation.name is '{deg_name}'; use "
                                  "bicubic-down with the same scale")
        if net_scale == 1:
            raise PixelsmithError("objective.degradation.name is bicubic-down (super-resolution) "
                                  "but the model keeps the size; use model.name: srnet")
        raise PixelsmithError(f"model.scale ({net_scale}) must equal "
                              f"objective.degradation.scale ({deg_scale})")


@OBJECTIVES.register("restoration", config=RestorationObjectiveConfig,
                     help="clean patch -> degradation -> restorer, L1/L2 loss, PSNR logged")
class RestorationObjective(Objective):
    sample_module = "restorer"

    makes_images = False
    benchmark = "bench/restoration.py"

    def __init__(self, cfg: RestorationObjectiveConfig, nets, info, device, **kw):
        super().__init__(cfg, nets, info, device, **kw)
        if "restorer" not in nets:
            raise PixelsmithError(f"objective 'restoration' needs a restoration model (dncnn, "
                                  f"unet-restorer, srnet), got networks {', '.join(nets)}")
        self.deg_name, self.deg_params, self.degradation = degradation_from_config(
            cfg.degradation)
        self.task = TASKS.get(self.deg_name, "denoise")
        check_model_fits(nets["restorer"], self.deg_name, self.deg_params, self.degradation)
        self.scale = getattr(self.degradation, "scale", 1) if self.task == "sr" else 1
        if self.scale > 1 and info.img_size % self.scale:
            raise PixelsmithError(f"data.patch_size ({info.img_size}) must be a multiple of "
                                  f"objective.degradation.scale ({self.scale})")
        if cfg.lr <= 0:
            raise PixelsmithError(f"objective.lr must be > 0, got {cfg.lr}")
        self.optimizer: torch.optim.Optimizer | None = None

    # -------------------------------------------------------------- training
    def phases(self) -> list[Phase]:
        net = self.nets["restorer"]
        self.optimizer = adam(net.parameters(), lr=self.cfg.lr, betas=self.cfg.betas,
                              device=self.device)
        return [Phase("restorer", ("restorer",), self.optimizer, self.loss)]

    def restore(self, net, y01: torch.Tensor, known: dict) -> torch.Tensor:
        """The net's estimate in [-1, 1] from an observation in [0, 1]."""
        return net(y01 * 2 - 1, known.get("sigma"))

    def degrade(self, x01: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Degrade this rank's batch from the global RNG (saved with the checkpoint). Under
        data parallelism (``shard`` = (rank, world), all ranks seeded alike) every rank
        draws the noise of the whole global batch and keeps its own slice, so ranks get
        different noise and N ranks reproduce one process."""
        world = self.shard[1]
        if world == 1:
            return self.degradation(x01)
        n = x01.shape[0]
        y, known = self.degradation(x01.repeat(world, 1, 1, 1))
        mine = self.rank_rows(n)
        # per-image knowledge (sigma (N,), blur kernel (N, k, k)): this rank's slice too
        known = {k: v[mine] if torch.is_tensor(v) and v.dim() and v.shape[0] == n * world
                 else v for k, v in known.items()}
        return y[mine], known

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = batch.x.float()
        y01, known = self.degrade((x + 1) / 2)
        x_hat = self.restore(self.nets["restorer"], y01, known).float()
        if x_hat.shape != x.shape:
            raise PixelsmithError(f"the restorer returned {tuple(x_hat.shape)} for clean "
                                  f"patches {tuple(x.shape)}; check model and degradation")
        err = x_hat - x
        loss = err.abs().mean() if self.cfg.loss == "l1" else err.pow(2).mean()
        return {"loss": loss,
                "psnr": psnr(x_hat.detach().clamp(-1, 1), x).mean().float(),
                "lr": self.optimizer.param_groups[0]["lr"]}  # a number: no device copy

    # --------------------------------------------------------------- sampling
    def sample_inputs(self, num, generator, labels=None):
        raise PixelsmithError("a restoration model does not make images from noise; use "
                              "`pixelsmith restore --checkpoint RUN --input IMAGE`")

    def grid_inputs(self, num, generator, images):
        """Fixed crops of the first training images and their degradations (``generator``
        fixes the noise), so every sample grid shows the same pictures."""
        from pixelsmith.data.patches import centre_crop

        x = from_uint8(centre_crop(images[:num].cpu(), GRID_SIZE, self.scale))
        y01, known = self.degradation((x + 1) / 2, generator=generator)
        inputs = {"x": x, "y": y01}
        if known.get("sigma") is not None:
            inputs["sigma"] = known["sigma"]
        return inputs

    @torch.no_grad()
    def sample(self, net, inputs, noise=None):
        """One picture per input: degraded | restored | clean, side by side."""
        x, y01 = inputs["x"].to(self.device), inputs["y"].to(self.device)
        sigma = inputs.get("sigma")
        known = {} if sigma is None else {"sigma": sigma.to(self.device)}
        x_hat = self.restore(net, y01, known).float().clamp(-1, 1)
        y = (y01 * 2 - 1).clamp(-1, 1)
        if y.shape[-1] != x.shape[-1]:  # SR: show the small input at the output's size
            y = F.interpolate(y, size=x.shape[-2:], mode="nearest")
        return side_by_side([y, x_hat, x.float()], gap=2, fill=1.0)  # white lines between
