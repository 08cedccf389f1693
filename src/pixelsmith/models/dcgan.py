"""DCGAN (Radford et al. 2016) in the form of the project's seed articles.

Generator: a linear layer projects z to a small feature map, then BatchNorm + ReLU and
transposed convolutions double the resolution up to the image size; tanh output.
Discriminator: strided convolutions with LeakyReLU and dropout down to one logit.
Works for any size s0 * 2**k with a start size s0 in 3..7 (16, 28, 32, 64, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import MODELS


@dataclass
class DCGANConfig:
    default_objective: ClassVar[str] = "gan"
    name: str = "dcgan"
    z_dim: int = 100  # size of the noise vector
    g_width: int = 64  # channels of the generator's last hidden layer (doubles per lower level)
    d_width: int = 64  # channels of the discriminator's first layer (doubles per level)
    dropout: float = 0.3  # discriminator dropout after each LeakyReLU
    max_width: int = 512  # cap on channels at low resolutions


def start_size(img_size: int) -> tuple[int, int]:
    """(s0, k) with img_size == s0 * 2**k and 3 <= s0 <= 7: where the generator starts."""
    size, k = img_size, 0
    while size > 7 and size % 2 == 0:
        size, k = size // 2, k + 1
    if not (3 <= size <= 7) or k == 0:
        raise PixelsmithError(
            f"img_size {img_size} is not supported by DCGAN; use s*2^k with s in 3..7 "
            "(e.g. 16, 28, 32, 64)"
        )
    return size, k


class Generator(nn.Module):
    def __init__(self, *, z_dim: int, img_size: int, img_channels: int, width: int,
                 max_width: int = 512):
        super().__init__()
        self.z_dim = z_dim
        s0, k = start_size(img_size)
        widths = [min(width * 2**i, max_width) for i in range(k, -1, -1)]  # low res -> high
        self.s0, self.c0 = s0, widths[0]
        self.project = nn.Linear(z_dim, widths[0] * s0 * s0, bias=False)
        self.bn0 = nn.BatchNorm2d(widths[0])
        ups = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            ups += [
                nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.ups = nn.Sequential(*ups)
        self.to_img = nn.Conv2d(widths[-1], img_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], self.c0, self.s0, self.s0)  # (B, C0, s0, s0)
        h = torch.relu(self.bn0(h))
        h = self.ups(h)  # (B, width, H, W)
        return torch.tanh(self.to_img(h))  # (B, img_channels, H, W) in [-1, 1]


class Discriminator(nn.Module):
    def __init__(self, *, img_size: int, img_channels: int, width: int, dropout: float,
                 max_width: int = 512):
        super().__init__()
        s0, k = start_size(img_size)
        layers, c_in = [], img_channels
        for i in range(k):
            c_out = min(width * 2**i, max_width)
            layers += [
                nn.Conv2d(c_in, c_out, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Dropout(dropout),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * s0 * s0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, C, s0, s0)
        return self.head(h.flatten(1)).squeeze(1)  # (B,) logits


def _init_weights(m: nn.Module) -> None:
    # DCGAN paper: N(0, 0.02) for conv weights, N(1, 0.02) for BatchNorm scales
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


@MODELS.register("dcgan", config=DCGANConfig, help="DCGAN generator + discriminator (GAN)")
def build_dcgan(cfg: DCGANConfig, *, img_size: int, img_channels: int, num_classes: int = 0):
    g = Generator(z_dim=cfg.z_dim, img_size=img_size, img_channels=img_channels,
                  width=cfg.g_width, max_width=cfg.max_width)
    d = Discriminator(img_size=img_size, img_channels=img_channels, width=cfg.d_width,
                      dropout=cfg.dropout, max_width=cfg.max_width)
    g.apply(_init_weights)
    d.apply(_init_weights)
    return {"generator": g, "discriminator": d}
