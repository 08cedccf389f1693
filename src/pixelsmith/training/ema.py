"""Exponential moving average of a network's weights (used for sampling once enabled)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, net: nn.Module, decay: float, start: int = 0):
        self.decay, self.start = decay, start
        self.net = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, step: int) -> None:
        # during warm-up the average just tracks the weights: early weights are noise
        weight = 1.0 if step < self.start else 1.0 - self.decay
        ema_p = list(self.net.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in net.parameters()], weight)
        for b_ema, b in zip(self.net.buffers(), net.buffers()):
            b_ema.copy_(b)  # BatchNorm statistics are copied, not averaged
