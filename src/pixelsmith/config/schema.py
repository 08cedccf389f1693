"""The fixed config sections. Model and objective sections are per-component dataclasses
found through the registries (``model.name`` picks the model's own Config class)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def choice(default, *choices, help: str = ""):
    """A field whose value must be one of ``choices`` (checked by the strict loader)."""
    return field(default=default, metadata={"choices": choices, "help": help})


@dataclass
class DataConfig:
    name: str = "digits"  # a registered data set: digits, mnist, fashion-mnist, cifar10, ...
    root: str | None = None  # folder holding the data set (torchvision layout) or the images
    download: bool = False  # let torchvision download MNIST/Fashion-MNIST/CIFAR-10 into root
    split: str = choice("train", "train", "test", help="which split of a standard data set")
    img_size: int = 32  # images are resized to img_size x img_size (image-folder: 0 = native
    # size, portraits turned landscape, centre-cropped to the smallest common size)
    img_channels: int = 1  # 1 = gray, 3 = RGB; sources are converted to this
    labels: bool = False  # image-folder: use subfolder names as class labels
    max_images: int | None = None  # keep only the first N images (quick experiments)
    patch_size: int | None = None  # train on random crops of this size with flips/rotations
    file_list: str | None = None  # image-folder: only the files listed (relative to root)
    # packed / image-folder: decode in DataLoader workers with a bounded shuffle buffer
    # instead of holding the set in memory; auto = when the decoded set exceeds 4 GiB
    stream: bool | str = choice("auto", "auto", True, False, help="stream the data set")
    workers: int = 2  # streaming: DataLoader worker processes (0 = decode in the main one)
    shuffle_buffer: int = 10000  # streaming: pictures shuffled together (memory bound)


@dataclass
class TrainConfig:
    steps: int = 2000  # optimisation steps (one step = every phase of the objective once)
    batch_size: int = 64  # the GLOBAL batch: with N processes each trains on batch_size / N
    # gradient accumulation: each batch is split into this many equal micro-batches whose
    # gradients are summed before the step (the same update, 1/k of the activation memory;
    # BatchNorm sees micro-batches). For every family
    accumulate: int = 1
    seed: int = 0
    device: str = "auto"  # auto (cuda if available), cpu, cuda, cuda:N
    precision: str = choice("auto", "auto", "bf16", "fp32", help="auto: bf16 on CUDA, fp32 on CPU")
    channels_last: bool = False  # memory format for conv nets on GPU
    compile: bool = False  # torch.compile the networks (eager fallback + a warning on failure)
    compile_mode: str = choice("default", "default", "reduce-overhead", "max-autotune",
                               help="torch.compile mode; reduce-overhead captures CUDA graphs")
    compile_nets: str = ""  # comma-separated networks to compile ("" = all), e.g. generator
    lr_schedule: str = choice("constant", "constant", "step", "cosine",
                              help="learning-rate factor over the steps, for every phase: "
                                   "step = times lr_gamma at each of lr_milestones; cosine = "
                                   "half a cosine from 1 down to lr_min_ratio at train.steps")
    lr_warmup_steps: int = 0  # the factor rises linearly from 1/warmup to 1 over these steps
    lr_milestones: list[int] = field(default_factory=list)  # step schedule: steps where lr *= gamma
    lr_gamma: float = 0.1  # step schedule: factor per milestone passed
    lr_min_ratio: float = 0.0  # cosine schedule: final lr as a fraction of the initial one
    ema_decay: float = 0.0  # 0 disables the EMA copy of the sampled network
    ema_start: int = 0  # steps during which the EMA copies the weights instead of averaging
    log_every: int = 50  # steps between metrics.jsonl / TensorBoard scalar rows
    sample_every: int = 500  # steps between sample grids (0 = only at the end)
    num_samples: int = 64  # images in each sample grid (fixed noise)
    checkpoint_every: int = 1000  # steps between checkpoints (0 = only at the end)
    progress: bool = True  # rich progress bar
    eval_every: int = 0  # steps between metric evaluations (0 = never); see metrics/training_eval
    eval_metrics: str = "fid"  # comma-separated registered metrics: fid, kid, is, pr, acc
    eval_num: int = 1000  # generated (and reference) images per evaluation
    eval_features: str = choice("evaluator", "evaluator", "inception",
                                help="features for the metrics: the data set's evaluator or "
                                     "Inception-v3 (needs its weights file)")
    best_metric: str = "fid"  # short metric name that picks the `best` checkpoint (fid, kid:
    # lower is better; is, precision, recall, acc: higher); "" keeps no best checkpoint


@dataclass
class Config:
    model: Any  # the registered model's Config dataclass
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    objective: Any = None  # the registered objective's Config dataclass
