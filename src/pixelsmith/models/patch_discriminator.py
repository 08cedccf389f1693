"""Spectral-norm PatchGAN discriminator (Isola et al. 2017; SN-PatchGAN of DeepFill v2,
Yu et al. 2019): strided 4x4 convolutions down to a map of logits, one per image patch,
so a hinge loss judges every region of the image, not the whole picture at once.

It sees the image and the mask (1 = known) together, so it can tell where the filled
region is. Fully convolutional: any H, W >= 2**levels.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelsmith.nn.layers import sn


class PatchDiscriminator(nn.Module):
    def __init__(self, *, img_channels: int, width: int = 64, levels: int = 3,
                 max_width: int = 256):
        super().__init__()
        layers, c_in = [], img_channels + 1  # + the mask channel
        for i in range(levels):
            c_out = min(width * 2**i, max_width)
            layers += [sn(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)),
                       nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = sn(nn.Conv2d(c_in, 1, 3, padding=1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([x, mask.to(x.dtype)], 1))  # (B, C', H/2^L, W/2^L)
        return self.head(h).flatten(1)  # (B, P) logits, one per patch
