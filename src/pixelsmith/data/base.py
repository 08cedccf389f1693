"""What every data set loader returns: the whole set as one uint8 tensor.

Small image sets (MNIST, Fashion-MNIST, CIFAR-10, a user's folder of a few thousand
pictures) fit in memory and on a GPU whole; the trainer slices batches from it on the
device, so no DataLoader worker sits between the GPU and its data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pixelsmith.config.schema import DataConfig
from pixelsmith.registry import DATASETS


@dataclass
class Batch:
    """What the trainer hands an objective's losses each time a phase runs."""

    x: torch.Tensor  # (B, C, H, W) float images in [-1, 1]
    c: torch.Tensor | None = None  # (B,) class labels, when the data set has them


@dataclass
class DataInfo:
    """What the networks and objectives need to know of the training data."""

    img_size: int  # side of the training images (the patch side for restorers)
    img_channels: int
    num_classes: int  # 0 when unlabelled

    @classmethod
    def of(cls, cfg: DataConfig, num_classes: int) -> DataInfo:
        # restorers train on patch_size crops of larger pictures
        return cls(cfg.patch_size or cfg.img_size, cfg.img_channels, num_classes)


@dataclass
class ImageData:
    images: torch.Tensor  # (N, C, H, W) uint8, already at cfg.img_size and cfg.img_channels
    labels: torch.Tensor | None = None  # (N,) int64 class indices, or None when unlabelled
    class_names: list[str] = field(default_factory=list)
    source: str = ""  # one line for logs: what was read from where

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.labels is not None else 0

    def __len__(self) -> int:
        return self.images.shape[0]


def load_dataset(cfg: DataConfig) -> ImageData:
    """Load the data set named by ``cfg.name`` (see ``pixelsmith list``)."""
    data = DATASETS.get(cfg.name)(cfg)
    if cfg.max_images is not None:
        data = ImageData(
            data.images[: cfg.max_images],
            None if data.labels is None else data.labels[: cfg.max_images],
            data.class_names,
            data.source,
        )
    return data
