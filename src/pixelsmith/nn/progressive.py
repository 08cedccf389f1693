"""The layers of progressive growing (Karras et al. 2018, section 4): equalized learning
rate, pixel-wise feature normalisation and the minibatch standard deviation feature.

Equalized learning rate: weights are stored as N(0, 1) and multiplied at run time by He's
constant gain / sqrt(fan_in). Adam's step is invariant to a parameter's scale, so every
weight then learns at the same speed, whatever its layer's fan-in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

HE_GAIN = math.sqrt(2.0)  # for layers followed by a (leaky) ReLU


class EqualizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, *, gain: float = HE_GAIN):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)  # the runtime scale: gain / sqrt(fan_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A stride-1 'same' convolution with the runtime weight scale."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, *, gain: float = HE_GAIN):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = gain / math.sqrt(c_in * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit root-mean-square over the channels."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, ...) / sqrt(mean_c x^2 + eps): dim 1 is the channel (or feature) axis
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: the standard deviation of each feature and pixel over a
    group of samples, averaged over features and pixels (one number per group). Sample i
    belongs to group i mod (B / group_size), as in the paper's code; the group is the
    largest divisor of B not above ``group_size``, so any batch size works."""

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = next(g for g in range(min(self.group_size, b), 0, -1) if b % g == 0)
        y = x.float().view(g, b // g, c, h, w)  # (G, M, C, H, W): group m = rows m, m+M, ...
        y = y - y.mean(dim=0)
        std = (y.pow(2).mean(dim=0) + self.eps).sqrt()  # (M, C, H, W)
        std = std.mean(dim=(1, 2, 3)).to(x.dtype)  # (M,)
        maps = std.repeat(g).view(b, 1, 1, 1).expand(b, 1, h, w)  # row i gets group i mod M
        return torch.cat([x, maps], dim=1)  # (B, C + 1, H, W)
