"""Where the trainer's batches come from: ``make_batches`` picks the source for a data
config, and every source has the same small interface (below), so the trainer does not
know which one it has.

    next() -> Batch                 this rank's slice of the next global batch
    first_images(n) -> uint8        the set's first n images (reals.png, sample grids),
                                    without drawing a batch
    info: DataInfo, class_names, source
    state_dict() / load_state_dict  the data order, saved in checkpoints (exact resume)
    close()                         stop any threads and worker processes (the trainer calls
                                    it when ``fit`` ends; a later ``next()`` goes on)

Sources today: ``DeviceBatches`` (whole images, the set on the training device),
``DevicePatches`` (random crops with flips/rotations for restorers, ``data.patch_size``) and
``StreamBatches`` (data/streaming.py: sets beyond memory, decoded by DataLoader workers).
"""

from __future__ import annotations

import torch

from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import Batch, DataInfo, ImageData, load_dataset
from pixelsmith.data.transforms import from_uint8
from pixelsmith.errors import PixelsmithError


def make_batches(cfg: DataConfig, *, batch_size: int, seed: int, device: torch.device,
                 channels_last: bool = False, shard: tuple[int, int] = (0, 1)):
    """Load the data set ``cfg`` names and return its batch source for training.

    ``batch_size`` is the global batch; with ``shard=(rank, world)`` every rank keeps its
    ``batch_size / world`` slice of the batch one process would draw.

    ``data.stream`` chooses between the set in memory (the default for small sets: no
    worker between the device and its data) and streaming (data/streaming.py: packed
    shards or a folder decoded by DataLoader workers, automatic above 4 GiB of pixels).
    ``auto`` is resolved here once and written back into ``cfg`` (true or false), so the
    config the run saves, and so a ``--resume``, keep the same path when the set grows."""
    from pixelsmith.data.stream_sets import open_stream
    from pixelsmith.data.streaming import StreamBatches

    coll = open_stream(cfg)
    if cfg.stream == "auto":
        cfg.stream = coll is not None
    if coll is not None:
        if cfg.workers < 0 or cfg.shuffle_buffer < 1:
            raise PixelsmithError(f"data.workers must be >= 0 and data.shuffle_buffer >= 1, got "
                                  f"{cfg.workers} and {cfg.shuffle_buffer}")
        source = StreamBatches(coll, batch_size, seed, device, channels_last, shard=shard,
                               workers=cfg.workers, buffer=cfg.shuffle_buffer)
        source.info = DataInfo.of(cfg, len(coll.class_names))
        return source
    data = load_dataset(cfg)
    if len(data) == 0:
        raise PixelsmithError(f"data set '{cfg.name}' has no images")
    if cfg.patch_size:  # restorers: random crops + flips/rotations of larger pictures
        from pixelsmith.data.patches import DevicePatches

        source = DevicePatches(data, batch_size, cfg.patch_size, seed, device, channels_last,
                               shard=shard)
    else:
        source = DeviceBatches(data, batch_size, seed, device, channels_last, shard=shard)
    source.info = DataInfo.of(cfg, data.num_classes)
    return source


class DeviceBatches:
    """Shuffled epochs without replacement; the permutation comes from its own generator,
    so its state (and so the exact batch sequence) is saved in checkpoints.

    ``batch_size`` is the global batch; with ``shard=(rank, world)`` every rank draws the
    same global batch (same generator state everywhere) and keeps its ``batch_size / world``
    slice, so N ranks together see exactly the batches of one process."""

    def __init__(self, data: ImageData, batch_size: int, seed: int, device: torch.device,
                 channels_last: bool = False, shard: tuple[int, int] = (0, 1)):
        self.images = data.images.to(device)  # (N, C, H, W) uint8
        self.labels = None if data.labels is None else data.labels.to(device)
        self.class_names, self.source = data.class_names, data.source
        self.info: DataInfo | None = None  # set by make_batches, which knows the config
        self.batch_size, self.device = batch_size, device
        self.rank, self.world = shard
        self.local_size = batch_size // self.world  # the trainer checks divisibility
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long)  # indices still to visit (CPU)

    def __len__(self) -> int:
        return self.images.shape[0]

    def first_images(self, n: int) -> torch.Tensor:
        """The set's first n whole images (patch sources crop their grids from these)."""
        return self.images[:n]

    def next_indices(self) -> torch.Tensor:
        """The next global batch's image indices (CPU), in shuffled epochs."""
        while self.order.numel() < self.batch_size:  # also covers sets smaller than a batch
            self.order = torch.cat([self.order, torch.randperm(len(self), generator=self.gen)])
        idx, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return idx

    def mine(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's rows of something drawn for the global batch, on the device."""
        rows = slice(self.rank * self.local_size, (self.rank + 1) * self.local_size)
        return t[rows].to(self.device, non_blocking=True)

    def batch(self, x: torch.Tensor, idx: torch.Tensor) -> Batch:
        """uint8 images of this rank's indices ``idx`` -> the Batch the objective gets."""
        x = from_uint8(x).contiguous(memory_format=self.memory_format)
        return Batch(x=x, c=None if self.labels is None else self.labels[idx])

    def next(self) -> Batch:
        idx = self.mine(self.next_indices())
        return self.batch(self.images[idx], idx)

    def close(self) -> None:
        """Nothing to stop: no threads or processes behind this source."""

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "order": self.order.clone()}

    def load_state_dict(self, state: dict) -> None:
        if "stream" in state:  # the run streamed its data; this one holds it in memory
            raise PixelsmithError("the checkpoint's data position (train_state.pt) was saved by "
                                  "the streamed data path; resume with --set data.stream=true")
        self.gen.set_state(state["gen"])
        self.order = state["order"].clone()
