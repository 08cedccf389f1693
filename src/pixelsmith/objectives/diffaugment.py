"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to real and fake
images alike before D, so D cannot memorise a small data set. Random parameters come from
the global RNG on the images' device, so a seeded run (and its exact resume) repeats them."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import Registry

DIFFAUGMENT = Registry("DiffAugment op")


def _uniform(x: torch.Tensor, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    return torch.rand(shape, device=x.device, dtype=x.dtype) * (high - low) + low


@DIFFAUGMENT.register("color", help="random brightness, saturation and contrast per image")
def color(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    x = x + _uniform(x, (b, 1, 1, 1), -0.5, 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)  # (B, 1, H, W)
    x = (x - mean) * _uniform(x, (b, 1, 1, 1), 0.0, 2.0) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return (x - mean) * _uniform(x, (b, 1, 1, 1), 0.5, 1.5) + mean  # contrast


@DIFFAUGMENT.register("translation", help="shift by up to 1/8 of the size, zero-filled")
def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    ys = (torch.arange(h, device=x.device)[None, :, None] + dy + 1).clamp(0, h + 1)  # (B, H, 1)
    xs = (torch.arange(w, device=x.device)[None, None, :] + dx + 1).clamp(0, w + 1)  # (B, 1, W)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (B, H+2, W+2, C), zero border
    idx = torch.arange(b, device=x.device)[:, None, None]
    return padded[idx, ys, xs].permute(0, 3, 1, 2)  # (B, C, H, W)


@DIFFAUGMENT.register("cutout", help="zero one random square of half the size per image")
def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h - ch + 1, (b, 1, 1), device=x.device)
    left = torch.randint(0, w - cw + 1, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]  # (1, H, 1)
    xs = torch.arange(w, device=x.device)[None, None, :]  # (1, 1, W)
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # (B, H, W)
    return x * (~inside)[:, None].to(x.dtype)


def parse_policy(policy: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``"color,translation,cutout"`` -> one function applying them in that order."""
    names = [n.strip() for n in policy.split(",") if n.strip()]
    for n in names:
        if n not in DIFFAUGMENT:
            raise PixelsmithError(f"objective.diffaugment: unknown op '{n}'; choose from: "
                                  f"{', '.join(DIFFAUGMENT.names())}")
    ops = [DIFFAUGMENT.get(n) for n in names]

    def apply(x: torch.Tensor) -> torch.Tensor:
        for op in ops:
            x = op(x)
        return x

    return apply
