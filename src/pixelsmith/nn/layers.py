"""Shared layers: spectral normalisation (Miyato et al. 2018), SAGAN self-attention
(Zhang et al. 2019), class-conditional BatchNorm (de Vries et al. 2017), the restorers'
residual block and noise-level map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from pixelsmith.errors import PixelsmithError


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


class VectorConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose gain (1 + linear) and bias (linear) are functions of a conditioning
    vector, not of a class index: BigGAN feeds each block [shared class embedding, z chunk]."""

    def __init__(self, num_features: int, cond_dim: int, *, use_sn: bool = True):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = sn(nn.Linear(cond_dim, num_features, bias=False), use_sn)
        self.bias = sn(nn.Linear(cond_dim, num_features, bias=False), use_sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gain = 1 + self.gain(y)[:, :, None, None]  # (B, C, 1, 1)
        return self.bn(x) * gain + self.bias(y)[:, :, None, None]  # (B, C, H, W)


def norm(layer: nn.Module, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    """Apply a BatchNorm or a ConditionalBatchNorm2d (which also takes the labels)."""
    return layer(x, c) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)


class ResBlock(nn.Module):
    """conv3x3-ReLU-conv3x3 plus the input, no normalisation (the restorers' block)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))  # (N, c, H, W)


def noise_level_map(sigma, like: torch.Tensor, model: str) -> torch.Tensor:
    """The noise level sigma (0-255; a number, (1,) or (N,)) as a constant (N, 1, H, W) map
    sigma/255 the shape of ``like`` (N, C, H, W): the extra input of non-blind denoisers
    (FFDNet, DRUNet). ``model`` names the network in the error when sigma is missing."""
    n = like.shape[0]
    if sigma is None:
        raise PixelsmithError(f"this {model} reads the noise level "
                              "(model.noise_level_input: true): pass sigma")
    level = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1) / 255
    return level.expand(n).view(n, 1, 1, 1).expand(n, 1, *like.shape[2:])
