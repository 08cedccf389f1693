"""The evaluator's network: a small VGG-style CNN classifier whose penultimate layer gives
the features for FID/KID/precision-recall and whose softmax gives IS and class accuracy."""

from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True),
    )


class EvaluatorNet(nn.Module):
    def __init__(self, *, img_channels: int, num_classes: int, width: int = 32,
                 feature_dim: int = 256, dropout: float = 0.3):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            _block(img_channels, w), nn.MaxPool2d(2),
            _block(w, 2 * w), nn.MaxPool2d(2),
            _block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1),
        )
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(4 * w, feature_dim), nn.ReLU(True))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))  # (B, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))  # (B, num_classes) logits
