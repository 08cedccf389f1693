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


@dataclass
class DataInfo:
    img_size: int
    img_channels: int
    num_classes: int  # 0 when unlabelled


class Objective:
    """Base class: subclasses set ``sample_module`` and implement ``phases`` and ``sample``."""

    sample_module: str = ""  # the network that makes images; the EMA follows it

    def __init__(self, cfg, nets: nn.ModuleDict, info: DataInfo, device: torch.device):
        self.cfg, self.nets, self.info, self.device = cfg, nets, info, device

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def sample_inputs(self, num: int, generator: torch.Generator,
                      labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Random inputs for ``sample`` drawn from ``generator`` (CPU), so a seed fixes them."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, net: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images in [-1, 1], (N, C, H, W), from the sampling network ``net``."""
        raise NotImplementedError


def adam(params, *, lr: float, betas: tuple[float, float], device: torch.device):
    # fused Adam is one kernel per step on CUDA; on CPU the default loop is used
    fused = device.type == "cuda"
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None)
