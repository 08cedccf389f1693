"""The contract between an objective (how a batch becomes losses) and the one trainer.

An objective declares its phases; each phase names the networks it trains, owns their
optimizer and returns named losses. The trainer does everything else (precision,
backward, step, EMA, logging, checkpoints) and knows nothing about GANs or VAEs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pixelsmith.errors import PixelsmithError


@dataclass
class Batch:
    x: torch.Tensor  # (B, C, H, W) float images in [-1, 1]
    c: torch.Tensor | None = None  # (B,) class labels, when the data set has them


@dataclass
class Phase:
    name: str  # short tag used in logs and checkpoints: "d", "g", "vae", ...
    modules: tuple[str, ...]  # networks whose parameters this phase trains
    optimizer: torch.optim.Optimizer
    loss: Callable[[Batch], dict[str, torch.Tensor]]  # must hold "loss"; others are logged
    repeats: int = 1  # consecutive runs per step, each on a fresh batch (n_critic)
    interval: int = 1  # run only on steps divisible by this
    fresh_batch: bool = True  # False: reuse the previous phase's batch (only its size/labels)
    after_step: Callable[[], None] | None = None  # run after each optimizer step (e.g. clipping)


@dataclass
class DataInfo:
    img_size: int
    img_channels: int
    num_classes: int  # 0 when unlabelled


class Objective:
    """Base class: subclasses set ``sample_module`` and implement ``phases`` and ``sample``."""

    sample_module: str = ""  # the network that makes images; the EMA follows it
    sample_classes: int = 0  # > 0: sample_inputs takes class labels in 0..sample_classes-1
    shard: tuple[int, int] = (0, 1)  # (rank, world size), set by the trainer when distributed
    # uint8 (N, C, H, W) clean images the trainer hands over before ``sample_inputs``, so
    # objectives that mend images (restoration, inpainting) show the same ones every grid
    grid_images: torch.Tensor | None = None

    def __init__(self, cfg, nets: nn.ModuleDict, info: DataInfo, device: torch.device):
        self.cfg, self.nets, self.info, self.device = cfg, nets, info, device

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def optimizer_state_loaded(self) -> None:
        """Called after the trainer reloaded the optimizers' state (the compile fallback
        rolls a step back): drop anything cached from it."""

    def rank_rows(self, n: int) -> slice:
        """This rank's n rows of something drawn for the whole global batch (n * world rows,
        all ranks sharing one seed): N ranks together reproduce one process."""
        rank = self.shard[0]
        return slice(rank * n, (rank + 1) * n)

    def randn(self, n: int, *shape: int) -> torch.Tensor:
        """Per-sample normal noise (n, *shape) for this rank's n images (see rank_rows)."""
        return torch.randn(n * self.shard[1], *shape, device=self.device)[self.rank_rows(n)]

    def rand(self, n: int, *shape: int) -> torch.Tensor:
        """Per-sample uniform noise in [0, 1), sliced like ``randn``."""
        return torch.rand(n * self.shard[1], *shape, device=self.device)[self.rank_rows(n)]

    def sample_inputs(self, num: int, generator: torch.Generator,
                      labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Random inputs for ``sample`` drawn from ``generator`` (CPU), so a seed fixes them."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, net: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images in [-1, 1], (N, C, H, W), from the sampling network ``net``."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, net: nn.Module, x: torch.Tensor,
               labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Inputs for ``sample`` that reproduce images ``x`` (models with an encoder only)."""
        raise PixelsmithError(f"model '{self.cfg.name}' has no encoder, so it cannot encode images")

    def interpolate_inputs(self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor],
                           t: torch.Tensor) -> dict[str, torch.Tensor]:
        """Inputs between ``a`` (t=0) and ``b`` (t=1) for each t in ``t`` (shape (T,)),
        from single-item input dicts. Default: spherical interpolation of ``z``; other
        entries (labels) are taken from ``a``."""
        za, zb = a["z"].flatten(), b["z"].flatten()
        cos = torch.dot(za, zb) / (za.norm() * zb.norm()).clamp_min(1e-12)
        omega = torch.arccos(cos.clamp(-1, 1))
        tt = t[:, None]
        if omega.abs() < 1e-4:  # nearly parallel: slerp degenerates to lerp
            z = (1 - tt) * za + tt * zb
        else:
            z = (torch.sin((1 - tt) * omega) * za + torch.sin(tt * omega) * zb) / torch.sin(omega)
        out = {k: v.expand(len(t), *v.shape[1:]) for k, v in a.items() if k != "z"}
        return {"z": z.view(len(t), *a["z"].shape[1:]), **out}


def adam(params, *, lr: float, betas: tuple[float, float], device: torch.device):
    # fused Adam is one kernel per step on CUDA; on CPU the default loop is used
    fused = device.type == "cuda"
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None)
