"""What streaming reads (data/streaming.py): a collection is a list of shards of known
counts, each readable on its own (``read(shard, lo, hi)``), plus the set's first pictures
(``head(n)``) without reading the rest. ``open_stream`` decides whether a data config is
streamed at all (``data.stream``).

- ``PackedCollection``: a folder written by ``pixelsmith data pack`` (data/packed.py);
- ``FolderCollection``: a folder of pictures as it is, cut into virtual shards of
  ``FOLDER_SHARD`` files of one fixed shuffle of its sorted listing.

Both store their pictures in a shuffled order (``data pack`` shuffles once; a folder is
shuffled here with a fixed seed), so the first pictures are a fair sample of the set.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import ImageData
from pixelsmith.errors import PixelsmithError

STREAM_ABOVE_BYTES = 4 << 30  # data.stream=auto streams sets whose decoded pixels exceed this
FOLDER_SHARD = 1000  # pictures per virtual shard when streaming a folder directly


class PackedCollection:
    """A packed folder (data/packed.py) as shards to stream."""

    def __init__(self, cfg: DataConfig):
        from pixelsmith.data.packed import check_config, find_packed, read_manifest

        self.folder = find_packed(cfg.root)
        m = read_manifest(self.folder)
        check_config(cfg, m, self.folder)
        self.entries, self.counts, left = [], [], cfg.max_images
        for e in m["shards"]:
            n = e["count"] if left is None else min(left, e["count"])
            if n <= 0:
                break
            self.entries.append(e)
            self.counts.append(n)
            left = None if left is None else left - n
        self.channels, self.img_size = m["img_channels"], m["img_size"]
        self.class_names = list(m["classes"])
        self.count = sum(self.counts)
        # what the saved data position belongs to: these shards' contents, these counts
        self.fingerprint = hashlib.sha256("".join(
            f"{e['sha256']}:{n}\n" for e, n in zip(self.entries, self.counts, strict=True))
            .encode()).hexdigest()
        self.source = (f"packed {self.folder}: {self.count} images in {len(self.counts)} shards, "
                       "streamed")

    def read(self, shard: int, lo: int, hi: int):
        """Pictures lo..hi of a shard: (uint8 x, labels or None, kept mask, [(file, why)])."""
        from pixelsmith.data.packed import read_shard

        x, c = read_shard(self.folder, self.entries[shard], self.channels, lo, hi)
        return x, c, torch.ones(hi - lo, dtype=torch.bool), []

    def head(self, n: int) -> ImageData:
        """The first n pictures (and labels) in stored order, reading only the shards needed."""
        xs, cs, have = [], [], 0
        for s, count in enumerate(self.counts):
            if have >= n:
                break
            x, c, _, _ = self.read(s, 0, min(count, n - have))
            xs.append(x)
            cs.append(c)
            have += x.shape[0]
        labels = torch.cat(cs) if self.class_names else None
        return ImageData(torch.cat(xs), labels, self.class_names,
                         f"packed {self.folder}: the first {have} of {self.count} images")


class FolderCollection:
    """A folder of pictures streamed as it is: virtual shards of ``FOLDER_SHARD`` files of a
    fixed shuffle of the sorted listing, decoded by the workers (unreadable files skipped)."""

    def __init__(self, cfg: DataConfig, root: Path, paths: list[Path]):
        from pixelsmith.data.image_folder import folder_classes

        paths = paths[: cfg.max_images] if cfg.max_images is not None else paths
        # the same classes (and the same refusal of loose files) as the in-memory loader
        self.class_names, labels = folder_classes(root, paths, cfg.labels)
        perm = torch.randperm(len(paths), generator=torch.Generator().manual_seed(0)).tolist()
        self.root, self.paths = root, [paths[i] for i in perm]
        self.labels = None if labels is None else [labels[i] for i in perm]
        self.img_size, self.channels, self.count = cfg.img_size, cfg.img_channels, len(paths)
        self.counts = [min(FOLDER_SHARD, self.count - a) for a in range(0, self.count,
                                                                        FOLDER_SHARD)]
        self.fingerprint = hashlib.sha256("".join(
            f"{p.relative_to(root).as_posix()}\n" for p in self.paths).encode()).hexdigest()
        self.source = f"image-folder {root}: {self.count} files, streamed"

    def read(self, shard: int, lo: int, hi: int):
        """Files lo..hi of a virtual shard: (uint8 x of the readable ones, their labels or
        None, kept mask, [(file, why)] unreadable)."""
        from pixelsmith.data.image_folder import decode_file

        a = shard * FOLDER_SHARD
        xs, cs, keep, failed = [], [], torch.zeros(hi - lo, dtype=torch.bool), []
        for j in range(a + lo, a + hi):
            res = decode_file(self.paths[j], self.img_size, self.channels)
            if isinstance(res, str):
                failed.append((str(self.paths[j]), res))
                continue
            keep[j - a - lo] = True
            xs.append(res)
            if self.labels is not None:
                cs.append(self.labels[j])
        x = torch.stack(xs) if xs else torch.empty(0, self.channels, self.img_size,
                                                   self.img_size, dtype=torch.uint8)
        return x, torch.tensor(cs, dtype=torch.long) if self.labels is not None else None, \
            keep, failed

    def head(self, n: int) -> ImageData:
        """The first n readable pictures of the shuffled listing (a fair sample), decoded by
        a thread pool; unreadable ones are skipped and topped up."""
        from pixelsmith.data.image_folder import decode_files

        x, kept, _ = decode_files(self.paths, self.img_size, self.channels, limit=n,
                                  desc=f"reading {self.root.name}")
        labels = None if self.labels is None else torch.tensor(
            [self.labels[i] for i in kept], dtype=torch.long)
        return ImageData(x, labels, self.class_names,
                         f"image-folder {self.root}: {x.shape[0]} of {self.count} files")


def open_stream(cfg: DataConfig):
    """The collection to stream for ``cfg``, or None for the in-memory path
    (``data.stream``: true / false / auto = stream when the decoded set exceeds 4 GiB)."""
    if cfg.stream is False:
        return None
    if cfg.name not in ("packed", "image-folder") or cfg.patch_size or cfg.img_size == 0:
        if cfg.stream is True:
            raise PixelsmithError(f"data.stream=true works for data.name packed or image-folder "
                                  f"at a fixed img_size without patch_size (got "
                                  f"name={cfg.name}, patch_size={cfg.patch_size}, "
                                  f"img_size={cfg.img_size}); set data.stream=auto")
        return None
    if cfg.name == "packed":
        coll = PackedCollection(cfg)
        big = coll.count * coll.channels * coll.img_size**2 > STREAM_ABOVE_BYTES
        return coll if cfg.stream is True or big else None
    from pixelsmith.data.image_folder import require_dir, scan_folder

    root = require_dir(cfg.root, "image")
    paths, _ = scan_folder(root)
    if cfg.file_list is not None and paths:
        from pixelsmith.data.patches import select_listed

        paths = select_listed(root, paths, cfg.file_list)
    if not paths:
        return None  # the in-memory loader says what is wrong with the folder
    n = len(paths) if cfg.max_images is None else min(len(paths), cfg.max_images)
    if cfg.stream is True or n * cfg.img_channels * cfg.img_size**2 > STREAM_ABOVE_BYTES:
        return FolderCollection(cfg, root, paths)
    return None
