"""The contract between an objective (how a batch becomes losses) and the one trainer.

An objective declares its phases; each phase names the networks it trains, owns their
optimizer and returns named losses. The trainer does everything else (precision,
backward, step, learning-rate schedule, EMA, logging, checkpoints) and knows nothing about
GANs or VAEs. What the trainer tells the objective:

- at construction: the config, the networks, what the data looks like (``DataInfo``), the
  device and this process's ``shard`` (rank, world size);
- before every step: ``begin_step(step, images_seen)`` (steps done so far, real images
  drawn by all ranks), so schedules inside a loss (KL warm-up, fade-in, noise levels)
  are functions of the step and resume exactly; a loaded model is told its checkpoint's;
- what it keeps of its own (``state_dict``) is saved with the checkpoint and restored;
- for sample grids: the data set's first images, to ``grid_inputs``.

What the objective tells the trainer: its phases, which network makes images
(``sample_module``, followed by the EMA), how to draw inputs and turn them into images
(``sample_inputs`` / ``grid_inputs`` / ``sample``, with a ``SampleNoise`` for samplers that
draw noise as they go), and whether distribution metrics apply (``makes_images``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pixelsmith.data.base import Batch, DataInfo
from pixelsmith.errors import PixelsmithError
from pixelsmith.objectives.noise import SampleNoise

__all__ = ["Batch", "DataInfo", "Objective", "Phase", "SampleNoise", "adam"]


@dataclass
class Phase:
    name: str  # short tag used in logs and checkpoints: "d", "g", "vae", ...
    modules: tuple[str, ...]  # networks whose parameters this phase trains
    optimizer: torch.optim.Optimizer
    # must hold "loss" (a tensor); the other entries are logged (tensors or plain numbers)
    loss: Callable[[Batch], dict[str, torch.Tensor | float]]
    repeats: int = 1  # consecutive runs per step, each on a fresh batch (n_critic)
    interval: int = 1  # run only on steps divisible by this
    fresh_batch: bool = True  # False: reuse the previous phase's batch (only its size/labels)
    after_step: Callable[[], None] | None = None  # run after each optimizer step (e.g. clipping)


class Objective:
    """Base class: subclasses set ``sample_module`` and implement ``phases`` and ``sample``."""

    sample_module: str = ""  # the network that makes images; the EMA follows it
    sample_classes: int = 0  # > 0: sample_inputs takes class labels in 0..sample_classes-1
    # True: draws new images from noise, so FID/KID/IS/PR apply (train.eval_every, evaluate).
    # Objectives that mend given images set False and name where they are scored instead.
    makes_images: ClassVar[bool] = True
    benchmark: ClassVar[str] = ""
    # sampling may replay CUDA graphs where the objective has them (diffusion); a training
    # run sets False: a graph keeps its memory reserved, and a capture syncs the GPU mid-run
    sample_graphs: bool = True

    def __init__(self, cfg, nets: nn.ModuleDict, info: DataInfo, device: torch.device, *,
                 shard: tuple[int, int] = (0, 1)):
        self.cfg, self.nets, self.info, self.device = cfg, nets, info, device
        self.shard = shard  # (rank, world size): which slice of the global batch is ours
        self.step, self.images_seen = 0, 0

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def begin_step(self, step: int, images_seen: int) -> None:
        """Told by the trainer before each step: ``step`` steps done, ``images_seen`` real
        images drawn by all ranks so far (both restored exactly on resume)."""
        self.step, self.images_seen = step, images_seen

    def state_dict(self) -> dict:
        """What the objective keeps beyond the networks and optimizers (an adaptive
        augmentation probability, a loss-aware timestep sampler...): tensors and plain data
        only, saved in the checkpoint's train state. Most objectives keep nothing."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` (on resume, and when the compile fallback rolls back)."""

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
        """Random inputs for ``sample`` drawn from ``generator`` (CPU), so a seed fixes them.
        Every entry has ``num`` rows: callers sample them in chunks of rows."""
        raise NotImplementedError

    def grid_inputs(self, num: int, generator: torch.Generator,
                    images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Inputs of the training sample grids. ``images``: the data set's first ``num``
        images (uint8, for objectives that mend them). Default: conditional models show
        class ``i % K`` at position i, so a grid of K columns has one class per column."""
        k = self.sample_classes
        labels = torch.arange(num) % k if k else None
        return self.sample_inputs(num, generator, labels)

    @torch.no_grad()
    def sample(self, net: nn.Module, inputs: dict[str, torch.Tensor],
               noise: SampleNoise | None = None) -> torch.Tensor:
        """Images in [-1, 1], (N, C, H, W), from the sampling network ``net`` (objectives
        that mend given images return panels side by side instead: degraded | restored |
        clean, 2 px apart, documented on their own ``sample``). ``noise``
        holds the rows' own streams for samplers that draw noise while they sample (None
        only where ``sample`` draws none)."""
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
