from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pixelsmith.data.base import ImageData


@dataclass
class EvalContext:
    """Everything a metric may need; built by ``pixelsmith evaluate`` or the trainer."""

    model: object  # pixelsmith.sampling.LoadedModel: cfg, meta, objective, net (EMA or not)
    real: ImageData  # reference images (the held-out split when the data set has one)
    num: int  # how many generated samples / real images to use
    seed: int
    device: torch.device
    batch_size: int = 256
    cache_dir: Path | None = None  # where real-data statistics are cached
