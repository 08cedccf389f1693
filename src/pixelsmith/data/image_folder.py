"""A user's own folder of pictures (any depth), optionally with subfolders as classes.

The decoding helpers here are shared with the CIFAR-10 image-folder layout.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import ImageData
from pixelsmith.data.image_files import read_image
from pixelsmith.data.transforms import check_shape_args
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import DATASETS

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
PROGRESS_MIN_FILES = 300  # below this a progress bar is only flicker


def require_dir(root: str | os.PathLike | None, what: str) -> Path:
    if root is None:
        raise PixelsmithError(f"data.root is not set; set it to the folder holding the {what}")
    path = Path(root).expanduser()
    if not path.exists():
        raise PixelsmithError(f"{what} folder {path} does not exist; check data.root")
    if not path.is_dir():
        raise PixelsmithError(f"data.root {path} is a file, not a folder; "
                              f"point it at the {what} folder")
    return path.resolve()


def scan_folder(root: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other files) under root, recursively, in sorted relative-path order.

    Hidden files and folders (.DS_Store, ._x.jpg, .ipynb_checkpoints) are not data: left out.
    """
    images, others = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath, name)
            (images if path.suffix.lower() in IMAGE_EXTENSIONS else others).append(path)
    key = lambda p: p.relative_to(root).as_posix()  # noqa: E731 - os.walk order is arbitrary
    return sorted(images, key=key), sorted(others, key=key)


def decode_file(path: Path, img_size: int, img_channels: int) -> torch.Tensor | str:
    """The image tensor (img_channels, img_size, img_size), or the reason it cannot be used."""
    try:
        return read_image(path, img_channels, size=img_size).pixels
    except PixelsmithError as e:  # undecodable or gone: the caller skips it with a warning
        return getattr(e, "reason", str(e))


def decode_files(paths: Sequence[Path], img_size: int, img_channels: int, *,
                 limit: int | None = None, desc: str = "decoding images",
                 ) -> tuple[torch.Tensor, list[int], list[tuple[Path, str]]]:
    """Decode files with a thread pool (Pillow's decoders release the GIL).

    Returns (uint8 (N, C, S, S), indices into ``paths`` that were kept, [(path, why)] failed).
    With ``limit`` it stops once that many decoded, topping up for any that failed, so
    keeping 200 of 50,000 files decodes about 200.
    """
    check_shape_args(img_size, img_channels)
    want = len(paths) if limit is None else min(limit, len(paths))
    chunks, kept, failed = [], [], []
    start = 0
    workers = min(8, os.cpu_count() or 1)  # tiny PNGs hold the GIL: more threads only contend

    def decode_group(group: range) -> list[torch.Tensor | str]:
        return [decode_file(paths[i], img_size, img_channels) for i in group]

    progress = None
    if want > PROGRESS_MIN_FILES:
        from rich.progress import Progress

        progress = Progress(transient=True)
        task = progress.add_task(desc, total=want)
        progress.start()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while len(kept) < want and start < len(paths):
                batch = range(start, min(len(paths), start + want - len(kept)))
                start = batch.stop
                # a task per few dozen files: one future per file costs as much as a PNG decode
                step = max(1, min(256, len(batch) // (4 * workers)))
                groups = [batch[j : j + step] for j in range(0, len(batch), step)]
                out = []
                for group, results in zip(groups, pool.map(decode_group, groups), strict=True):
                    for i, res in zip(group, results, strict=True):
                        if isinstance(res, str):
                            failed.append((paths[i], res))
                        else:
                            out.append(res)
                            kept.append(i)
                    if progress is not None:
                        progress.update(task, completed=len(kept))
                if out:
                    chunks.append(torch.stack(out))
    finally:
        if progress is not None:
            progress.stop()
    images = torch.cat(chunks) if chunks else torch.empty((0, img_channels, img_size, img_size),
                                                          dtype=torch.uint8)
    return images, kept, failed


def _names(root: Path, items: Sequence[Path], n: int = 3) -> str:
    shown = ", ".join(p.relative_to(root).as_posix() for p in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def folder_classes(root: Path, paths: Sequence[Path], labels: bool | None, *,
                   flag: str = "data.labels=true", off: str = "set data.labels=false",
                   ) -> tuple[list[str], list[int] | None]:
    """(class names, each path's class index) from the first subfolder under ``root``, or
    ([], None) without labels. ``labels=None`` decides: labels when every picture lies in a
    subfolder and there are at least two. With labels, pictures lying directly in ``root``
    are an error (``flag`` and ``off`` say which setting asked and how to switch it off)."""
    first = [p.relative_to(root).parts for p in paths]
    loose = [p for p, parts in zip(paths, first, strict=True) if len(parts) == 1]
    if labels is None:
        labels = not loose and len({parts[0] for parts in first}) > 1
    if not labels:
        return [], None
    if loose:
        raise PixelsmithError(f"{flag} needs every image in a class subfolder, but "
                              f"{len(loose)} lie directly in {root} ({_names(root, loose)}); "
                              f"move them into a subfolder or {off}")
    class_names = sorted({parts[0] for parts in first})
    index = {name: i for i, name in enumerate(class_names)}
    return class_names, [index[parts[0]] for parts in first]


def warn_skipped(root: Path, failed: Sequence[tuple[Path, str]],
                 ignored: Sequence[Path] = ()) -> None:
    """ONE warning line for everything left out, so a messy folder does not flood the log."""
    parts = []
    if failed:
        shown = "; ".join(f"{p.relative_to(root).as_posix()} ({why})" for p, why in failed[:3])
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        parts.append(f"skipped {len(failed)} unreadable image file(s): {shown}{more}")
    if ignored:
        parts.append(f"ignored {len(ignored)} non-image file(s): {_names(root, ignored)}")
    if parts:
        warnings.warn(f"{root}: " + "; ".join(parts), stacklevel=3)


@DATASETS.register("image-folder", help="your own pictures under data.root (subfolders = classes "
                   "with data.labels=true)")
def load_image_folder(cfg: DataConfig) -> ImageData:
    root = require_dir(cfg.root, "image")
    check_shape_args(cfg.img_size or 1, cfg.img_channels)  # 0 = native size (data/patches.py)
    paths, others = scan_folder(root)
    if cfg.file_list is not None and paths:
        from pixelsmith.data.patches import select_listed

        paths, others = select_listed(root, paths, cfg.file_list), []  # lists are no strays
    if not paths:
        extra = f" (only {len(others)} other files, e.g. {_names(root, others)})" if others else ""
        raise PixelsmithError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) under "
                              f"{root}{extra}; put pictures there or fix data.root")
    class_names, classes = folder_classes(root, paths, cfg.labels)
    if cfg.img_size == 0:
        from pixelsmith.data.patches import decode_native_files

        images, kept, failed = decode_native_files(paths, cfg.img_channels, cfg.max_images)
    else:
        images, kept, failed = decode_files(paths, cfg.img_size, cfg.img_channels,
                                            limit=cfg.max_images, desc=f"reading {root.name}")
    warn_skipped(root, failed, others)
    if not kept:
        raise PixelsmithError(f"none of the {len(failed)} image files under {root} could be "
                              f"decoded (e.g. {_names(root, [p for p, _ in failed])}); "
                              "check the files or fix data.root")
    labels = None if classes is None else torch.tensor([classes[i] for i in kept],
                                                        dtype=torch.long)
    note = f", {len(class_names)} classes" if cfg.labels else ""
    note += f", {len(failed)} unreadable skipped" if failed else ""
    note += " (no splits in a folder: data.split ignored)" if cfg.split != "train" else ""
    return ImageData(images=images, labels=labels, class_names=class_names,
                     source=f"image-folder {root}: {len(images)} images{note}")
