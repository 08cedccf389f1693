"""The embedded default: scikit-learn's 8x8 handwritten digits (ships with scikit-learn).

It needs no file and no network, so a fresh install can train something at once.
Split: the 1,797 images keep scikit-learn's order; "train" is the first 1,500 and "test"
the last 297 (a fixed held-out part, all ten digits present), so an evaluator trained on
"train" is scored on images it never saw.
"""

from __future__ import annotations

import torch

from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import ImageData
from pixelsmith.data.transforms import resize_batch
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import DATASETS

NUM_TRAIN = 1500  # of 1,797; the rest is the test split


def digits_uint8() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as uint8 (N, 1, 8, 8) in 0..255 (source 0..16) and int64 labels."""
    from sklearn.datasets import load_digits  # sklearn import is slow: only when asked

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float()  # (N, 8, 8), values 0..16
    x = (x * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)  # (N, 1, 8, 8)
    return x, torch.from_numpy(bunch.target).long()


@DATASETS.register("digits", help="embedded 8x8 handwritten digits from scikit-learn (no download)")
def load_digits_dataset(cfg: DataConfig) -> ImageData:
    if cfg.split not in ("train", "test"):
        raise PixelsmithError(f"data.split must be 'train' or 'test', got '{cfg.split}'")
    x, y = digits_uint8()
    part = slice(0, NUM_TRAIN) if cfg.split == "train" else slice(NUM_TRAIN, None)
    x, y = x[part], y[part]
    if cfg.max_images is not None:
        x, y = x[: cfg.max_images], y[: cfg.max_images]
    # bicubic upsampling keeps strokes smooth; nearest would show the 8x8 blocks
    images = resize_batch(x, cfg.img_size, cfg.img_channels)
    rows = "0-1499" if cfg.split == "train" else "1500-1796"
    return ImageData(
        images=images,
        labels=y,
        class_names=[str(i) for i in range(10)],
        source=f"digits (scikit-learn 8x8, {cfg.split} = images {rows}), {len(images)} images "
        f"upsampled to {cfg.img_size}x{cfg.img_size}",
    )
