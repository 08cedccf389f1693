"""DnCNN (Zhang et al., TIP 2017): a plain deep CNN that predicts the noise, not the image.

Layout (``depth`` conv layers in all): conv + ReLU, then ``depth - 2`` x (conv + BatchNorm +
ReLU), then a conv back to the image channels; every conv is 3x3 with ``width`` channels and
padding 1, so the net is fully convolutional and keeps the size. Residual learning: the body
estimates the noise v(y) and the output is ``y - v(y)`` (learning the residual is what made the
17-layer net train fast with BatchNorm in the paper). The middle convs carry no bias because
the BatchNorm after them has one.

Parameters with the defaults (depth 17, width 64): 556,096 for gray (the paper's DnCNN-S,
about 0.56 M) and 558,400 for colour. ``sigma`` is accepted and ignored: DnCNN is blind to the
noise level (one model per sigma, or a blind range in training).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import MODELS


@dataclass
class DnCNNConfig:
    default_objective: ClassVar[str] = "restoration"
    name: str = "dncnn"
    depth: int = 17  # conv layers in all (the paper: 17 for a fixed sigma, 20 for blind)
    width: int = 64  # channels of every hidden layer
    batch_norm: bool = True  # BatchNorm after the middle convs (the paper's choice)


class DnCNN(nn.Module):
    def __init__(self, *, img_channels: int, depth: int = 17, width: int = 64,
                 batch_norm: bool = True):
        super().__init__()
        if depth < 3:
            raise PixelsmithError(f"model.depth must be at least 3 for DnCNN, got {depth}")
        layers: list[nn.Module] = [nn.Conv2d(img_channels, width, 3, padding=1),
                                   nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(width, img_channels, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        noise = self.body(y)  # (N, C, H, W): the estimated noise in y
        return y - noise  # (N, C, H, W): the clean estimate


@MODELS.register("dncnn", config=DnCNNConfig,
                 help="DnCNN residual denoiser, 17 layers x 64 channels (restoration)")
def build_dncnn(cfg: DnCNNConfig, *, img_size: int, img_channels: int, num_classes: int = 0):
    # PyTorch's default conv init keeps the first noise estimate small, so training starts
    # near the identity y -> y
    net = DnCNN(img_channels=img_channels, depth=cfg.depth, width=cfg.width,
                batch_norm=cfg.batch_norm)
    return {"restorer": net}
