"""Super-resolution network: residual blocks and sub-pixel upsampling, in the style of the
EDSR baseline (Lim et al. 2017) with ESPCN's PixelShuffle (Shi et al. 2016).

Layout: a 3x3 head conv to ``width`` channels at the low resolution; ``blocks`` residual
blocks (conv-ReLU-conv, scaled by ``res_scale``, no BatchNorm: EDSR found it hurts SR); a conv
and a long skip around the body; the upsampler; a 3x3 tail conv to the image channels. The
upsampler is a conv to ``width * r**2`` channels and PixelShuffle(r), which rearranges
channels into an r x r block of pixels: one r = 2 or 3 stage for x2/x3, two r = 2 stages for
x4. All the convolutions run at the low resolution except the tail, so the net is cheap.
Global skip: the output is bicubic upsampling of y plus what the net predicts, so it only
learns the missing high frequencies (as VDSR).

Parameters with the defaults (width 64, blocks 16): gray 1,367,553 (x2), 1,552,193 (x3),
1,515,265 (x4); colour 1,369,859 (x2), 1,554,499 (x3), 1,517,571 (x4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelsmith.config.schema import choice
from pixelsmith.registry import MODELS


@dataclass
class SRNetConfig:
    default_objective: ClassVar[str] = "restoration"
    name: str = "srnet"
    scale: int = choice(2, 2, 3, 4, help="upscaling factor")
    width: int = 64  # channels of the residual body
    blocks: int = 16  # residual blocks (EDSR baseline: 16)
    res_scale: float = 1.0  # multiplier on each block's residual (EDSR uses 0.1 for wide nets)
    # start as plain bicubic (tail conv zero): short runs gain from not first unlearning
    # the random tail's noise
    zero_tail: bool = False


class ResBlock(nn.Module):
    def __init__(self, c: int, res_scale: float):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(torch.relu(self.conv1(x)))  # (N, c, h, w)


def _upsampler(c: int, scale: int) -> nn.Sequential:
    factors = {2: [2], 3: [3], 4: [2, 2]}[scale]
    layers: list[nn.Module] = []
    for r in factors:
        layers += [nn.Conv2d(c, c * r * r, 3, padding=1), nn.PixelShuffle(r)]
        # PixelShuffle: (N, c*r*r, h, w) -> (N, c, r*h, r*w)
    return nn.Sequential(*layers)


class SRNet(nn.Module):
    def __init__(self, *, img_channels: int, scale: int = 2, width: int = 64, blocks: int = 16,
                 res_scale: float = 1.0, zero_tail: bool = False):
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(img_channels, width, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(width, res_scale) for _ in range(blocks)],
                                  nn.Conv2d(width, width, 3, padding=1))
        self.up = _upsampler(width, scale)
        self.tail = nn.Conv2d(width, img_channels, 3, padding=1)
        if zero_tail:
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        base = F.interpolate(y, scale_factor=self.scale, mode="bicubic",
                             align_corners=False)  # (N, C, s*h, s*w)
        h = self.head(y)  # (N, width, h, w)
        h = h + self.body(h)  # long skip around the residual blocks
        return base + self.tail(self.up(h))  # (N, C, s*h, s*w)


@MODELS.register("srnet", config=SRNetConfig,
                 help="SR net: residual blocks + PixelShuffle, x2/x3/x4 (restoration)")
def build_srnet(cfg: SRNetConfig, *, img_size: int, img_channels: int, num_classes: int = 0):
    net = SRNet(img_channels=img_channels, scale=cfg.scale, width=cfg.width, blocks=cfg.blocks,
                res_scale=cfg.res_scale, zero_tail=cfg.zero_tail)
    return {"restorer": net}
