"""Shared layers: spectral normalisation (Miyato et al. 2018), SAGAN self-attention
(Zhang et al. 2019) and class-conditional BatchNorm (de Vries et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "constant") -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom and right so H and W are multiples of ``multiple``
    (callers crop back to H x W). Reflection needs the pad smaller than the side: tiny
    inputs replicate their edge instead."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if not (ph or pw):
        return x
    if mode == "reflect" and not (ph < h and pw < w):
        mode = "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def sn(module: nn.Module, enabled: bool = True) -> nn.Module:
    """``module`` with its weight divided by its largest singular value (power iteration)."""
    return spectral_norm(module) if enabled else module


class SelfAttention(nn.Module):
    """Non-local self-attention over all positions; starts as the identity (gamma = 0)."""

    def __init__(self, channels: int, *, use_sn: bool = True):
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = sn(nn.Conv2d(channels, inner, 1, bias=False), use_sn)
        self.key = sn(nn.Conv2d(channels, inner, 1, bias=False), use_sn)
        self.value = sn(nn.Conv2d(channels, max(channels // 2, 1), 1, bias=False), use_sn)
        self.out = sn(nn.Conv2d(max(channels // 2, 1), channels, 1, bias=False), use_sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        k = self.key(x).flatten(2)  # (B, C/8, HW)
        v = self.value(x).flatten(2)  # (B, C/2, HW)
        attn = torch.softmax(q @ k, dim=-1)  # (B, HW, HW): row i = where position i looks
        o = (v @ attn.transpose(1, 2)).view(b, -1, h, w)  # (B, C/2, H, W)
        return x + self.gamma * self.out(o)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine; the per-class gain and bias come from embeddings."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)
        return h * self.gain(c)[:, :, None, None] + self.bias(c)[:, :, None, None]  # (B, C, H, W)


def norm(layer: nn.Module, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """Apply a BatchNorm or a ConditionalBatchNorm2d (which also takes the labels)."""
    return layer(x, c) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)
