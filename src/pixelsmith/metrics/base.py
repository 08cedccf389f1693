from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from pixelsmith.data.base import ImageData


@dataclass
class EvalContext:
    """Everything a metric may need; built by ``pixelsmith evaluate`` or the trainer."""

    model: object  # pixelsmith.generate.LoadedModel: cfg, meta, objective, net (EMA or not)
    real: ImageData  # reference images (the held-out split when the data set has one)
    num: int  # how many generated samples / real images to use
    seed: int
    device: torch.device
    batch_size: int = 256
    cache_dir: Path | None = None  # where real-data statistics are cached
    # distribution metrics: the feature extractor (metrics/features.py) and protocol
    extractor: object | None = None  # a FeatureExtractor; None = metrics that need none
    quantize: bool = True  # generated images go through uint8 before features, like files
    reference: str = ""  # which real split, for the record ("fashion-mnist test")
    memo: dict = field(default_factory=dict)  # features computed once, shared by metrics
