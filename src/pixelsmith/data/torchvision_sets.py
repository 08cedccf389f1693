"""MNIST, Fashion-MNIST and CIFAR-10 from real files under the data root (torchvision's
layout; the root is ``data.root``, else ``$PIXELSMITH_DATA``, else ``~/.cache/pixelsmith/data``:
see ``roots.py``).

Nothing touches the network unless ``data.download`` is true. Read-only copies are fine:
whatever has to be written (unpacked MNIST files, decoded CIFAR-10 PNGs) goes to the cache,
``$PIXELSMITH_CACHE/decoded`` (default ``~/.cache/pixelsmith/decoded``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import warnings
from pathlib import Path

import torch

from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import ImageData
from pixelsmith.data.image_folder import decode_files, warn_skipped
from pixelsmith.data.roots import data_root, data_root_origin, decoded_dir
from pixelsmith.data.transforms import check_shape_args, resize_batch
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import DATASETS

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _key(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _check_split(cfg: DataConfig) -> bool:
    if cfg.split not in ("train", "test"):
        raise PixelsmithError(f"data.split must be 'train' or 'test', got '{cfg.split}'")
    check_shape_args(cfg.img_size, cfg.img_channels)
    return cfg.split == "train"


def _root(cfg: DataConfig, folder: str) -> Path:
    """The data root; with none given, also where earlier versions downloaded to (the
    default root's ``torchvision/`` folder), so a set fetched then is found now."""
    root = data_root(cfg.root).resolve()
    legacy = root / "torchvision"
    if cfg.root is None and not (root / folder).exists() and (legacy / folder).is_dir():
        return legacy
    return root


def _where(cfg: DataConfig) -> str:
    """How to fix a data set that is not where the rule looked, for the error message."""
    return (f"put the files there, point --data-root (or $PIXELSMITH_DATA) at the folder "
            f"that holds them (looked in {data_root_origin(cfg.root)}), or set "
            "data.download=true")


def _finish(cfg: DataConfig, images: torch.Tensor, labels: torch.Tensor, classes: list[str],
            source: str) -> ImageData:
    """Keep max_images, then resize (never resize 60,000 images to keep 100)."""
    if cfg.max_images is not None:
        images, labels = images[: cfg.max_images], labels[: cfg.max_images]
    images = resize_batch(images, cfg.img_size, cfg.img_channels)
    return ImageData(images, labels.long(), classes,
                     f"{source}, {len(images)} images at {cfg.img_size}x{cfg.img_size}")


# ---- MNIST / Fashion-MNIST ---------------------------------------------------------------

def _unpack_to_cache(raw: Path, cls_name: str) -> Path:
    """Unpack the .gz files torchvision would unpack beside themselves into the cache.

    Returns a root for torchvision (``<it>/<cls_name>/raw`` holds the four files).
    """
    sources = [raw / f if (raw / f).is_file() else raw / f"{f}.gz" for f in MNIST_FILES]
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sources]
    root = decoded_dir() / "torchvision" / _key(raw, stamp)
    dest = root / cls_name / "raw"
    dest.mkdir(parents=True, exist_ok=True)
    for name, src in zip(MNIST_FILES, sources, strict=True):
        if (dest / name).is_file():
            continue
        tmp = dest / f"{name}.{os.getpid()}.tmp"  # rename when whole: a crash leaves no half file
        try:
            opener = gzip.open if src.suffix == ".gz" else open
            with opener(src, "rb") as f_in, open(tmp, "wb") as f_out:
                shutil.copyfileobj(f_in, f_out, 1 << 20)
        except (OSError, EOFError) as e:
            tmp.unlink(missing_ok=True)
            raise PixelsmithError(f"cannot unpack {src} into {dest} ({e}); "
                                  "replace the file or set data.download=true") from e
        os.replace(tmp, dest / name)
    return root


def _load_mnist_like(cfg: DataConfig, dataset_cls: type, classes: list[str] | None) -> ImageData:
    train = _check_split(cfg)
    cls_name = dataset_cls.__name__  # torchvision's folder name: MNIST, FashionMNIST
    root = _root(cfg, cls_name)
    raw = root / cls_name / "raw"
    have = {f: (raw / f).is_file() or (raw / f"{f}.gz").is_file() for f in MNIST_FILES}
    if all((raw / f).is_file() for f in MNIST_FILES):
        read_root = root  # already unpacked: torchvision reads it in place
    elif all(have.values()):
        read_root = _unpack_to_cache(raw, cls_name)
    elif cfg.download:
        read_root = root
        try:
            dataset_cls(str(root), train=train, download=True)
        except Exception as e:  # URLError, PermissionError, md5 mismatch ...
            raise PixelsmithError(f"downloading {cls_name} into {raw} failed "
                                  f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                                  "check the connection and that the folder is writable") from e
    else:
        missing = ", ".join(f"{f}[.gz]" for f, ok in have.items() if not ok)
        raise PixelsmithError(f"{cls_name} not found under {raw} (missing {missing}); "
                              f"{_where(cfg)}")
    ds = dataset_cls(str(read_root), train=train, download=False)
    images = ds.data.unsqueeze(1)  # (N, 28, 28) -> (N, 1, 28, 28)
    return _finish(cfg, images, ds.targets, classes or list(ds.classes),
                   f"{cls_name} {cfg.split} from {raw}")


@DATASETS.register("mnist", help="MNIST handwritten digits, 28x28 gray (root/MNIST/raw)")
def load_mnist(cfg: DataConfig) -> ImageData:
    from torchvision.datasets import MNIST

    return _load_mnist_like(cfg, MNIST, [str(i) for i in range(10)])


@DATASETS.register("fashion-mnist",
                   help="Fashion-MNIST clothes, 28x28 gray (root/FashionMNIST/raw)")
def load_fashion_mnist(cfg: DataConfig) -> ImageData:
    from torchvision.datasets import FashionMNIST

    return _load_mnist_like(cfg, FashionMNIST, None)


# ---- CIFAR-10 ----------------------------------------------------------------------------

def _folder_split(root: Path, split: str) -> Path | None:
    """``root/<split>/<class>/<index>.png``; also ``root/cifar10/...`` so that one data.root
    (the shared data folder) serves MNIST, Fashion-MNIST and CIFAR-10 alike."""
    for base in (root, root / "cifar10"):
        if (base / "train").is_dir() or (base / split).is_dir():
            return base / split
    return None


def _index_key(path: Path) -> tuple[int, str]:
    # the file name is the index in the original batches: numeric order interleaves classes
    return (int(path.stem), path.name) if path.stem.isdigit() else (1 << 62, path.name)


def _load_cifar_folder(cfg: DataConfig, split_dir: Path) -> ImageData:
    # sorted names = the original label order (airplane ... truck happens to be alphabetical)
    classes = sorted(d.name for d in split_dir.iterdir()
                     if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise PixelsmithError(f"no class folders in {split_dir}; "
                              f"expected {split_dir}/airplane/29.png and so on")
    files = [(p, c) for c, name in enumerate(classes) for p in (split_dir / name).iterdir()
             if p.suffix.lower() == ".png"]
    if not files:
        raise PixelsmithError(f"no .png files in the class folders of {split_dir}; "
                              "check data.root")
    files.sort(key=lambda pc: _index_key(pc[0]))
    n = len(files) if cfg.max_images is None else min(cfg.max_images, len(files))
    # adding/removing files changes a folder's mtime: cheaper than stat-ing 50,000 files
    stamp = max(os.stat(d).st_mtime_ns for d in [split_dir, *(split_dir / c for c in classes)])
    key = (split_dir, len(files), stamp, cfg.img_size, cfg.img_channels)
    cache = decoded_dir() / "cifar10-folder"
    full = cache / f"{_key(*key, 'all')}.safetensors"
    part = cache / f"{_key(*key, n)}.safetensors"
    for path in (full, part):  # a full decode serves any max_images
        images, labels = _read_cache(path)
        if images is not None and labels is not None:
            images, labels, where = images[:n], labels[:n], f"from cache {path}"
            break
    else:
        images, kept, failed = decode_files([p for p, _ in files], cfg.img_size, cfg.img_channels,
                                            limit=n, desc="decoding CIFAR-10 PNGs")
        warn_skipped(split_dir, failed)
        labels = torch.tensor([files[i][1] for i in kept], dtype=torch.long)
        _write_cache(full if n == len(files) else part, images, labels)
        where = "decoded"
    return ImageData(images, labels, classes,
                     f"cifar10 {cfg.split} image folder {split_dir} ({where}), "
                     f"{len(images)} images at {cfg.img_size}x{cfg.img_size}")


def _read_cache(path: Path) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if not path.is_file():
        return None, None
    from safetensors.torch import load_file

    try:
        d = load_file(path)
        return d["images"], d["labels"]
    except Exception:  # a damaged cache file is rebuilt, not reported
        return None, None


def _write_cache(path: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    from safetensors.torch import save_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        save_file({"images": images.contiguous(), "labels": labels.contiguous()}, str(tmp))
        os.replace(tmp, path)
    except OSError as e:  # a read-only home should cost speed next time, not this run
        warnings.warn(f"could not write the data cache {path} ({e}); set PIXELSMITH_CACHE to a "
                      "writable folder", stacklevel=3)


@DATASETS.register("cifar10", help="CIFAR-10, 32x32 RGB, 10 classes (root/cifar-10-batches-py "
                   "or root/train/<class>/<index>.png)")
def load_cifar10(cfg: DataConfig) -> ImageData:
    train = _check_split(cfg)
    root = _root(cfg, "cifar-10-batches-py")
    batches = root / "cifar-10-batches-py"
    split_dir = _folder_split(root, cfg.split)
    if not batches.is_dir() and split_dir is not None:
        if not split_dir.is_dir():
            raise PixelsmithError(f"the CIFAR-10 {cfg.split} split is not present in the image "
                                  f"folder {split_dir.parent} (only train/ is); use "
                                  "data.split=train and hold out part of it, or point data.root "
                                  "at a folder with cifar-10-batches-py")
        return _load_cifar_folder(cfg, split_dir)
    if not batches.is_dir() and not cfg.download:
        raise PixelsmithError(f"CIFAR-10 not found under {root} (need cifar-10-batches-py/ or "
                              f"cifar10/train/<class>/<index>.png); {_where(cfg)}")
    from torchvision.datasets import CIFAR10

    try:
        ds = CIFAR10(str(root), train=train, download=cfg.download)
    except Exception as e:  # corrupt batch files, failed download, read-only root
        raise PixelsmithError(f"reading CIFAR-10 from {batches} failed "
                              f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                              "replace the files or set data.download=true") from e
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    return _finish(cfg, images, torch.tensor(ds.targets), list(ds.classes),
                   f"cifar10 {cfg.split} from {batches}")
