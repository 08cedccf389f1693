"""Where pixelsmith finds data and keeps what it derives from it.

The data root holds the standard data sets in their published layouts (``MNIST/raw``,
``FashionMNIST/raw``, ``cifar-10-batches-py`` or ``cifar10/train``, ``restoration/...``;
see docs/data.md). One rule for every command, test and benchmark:

1. ``--data-root DIR`` or ``data.root`` when given;
2. else ``$PIXELSMITH_DATA``;
3. else ``$PIXELSMITH_CACHE/data`` (default ``~/.cache/pixelsmith/data``), where
   ``data.download: true`` puts what torchvision downloads.

Caches (decoded images, unpacked MNIST files, evaluators, real-image features) live under
``$PIXELSMITH_CACHE`` (default ``~/.cache/pixelsmith``), never inside the data root, so a
read-only copy of the data works.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "PIXELSMITH_DATA"
CACHE_ENV = "PIXELSMITH_CACHE"


def cache_dir() -> Path:
    """pixelsmith's cache folder; ``$PIXELSMITH_CACHE`` moves all of it."""
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else Path.home() / ".cache" / "pixelsmith").expanduser()


def decoded_dir() -> Path:
    """Where derived data goes (decoded image folders, unpacked archives)."""
    return cache_dir() / "decoded"


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """The data root by the rule above (the folder need not exist yet)."""
    if explicit is not None and str(explicit) != "":
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return cache_dir() / "data"


def data_root_origin(explicit: str | os.PathLike | None = None) -> str:
    """Which step of the rule chose the root, for messages ('data.root', '$PIXELSMITH_DATA'
    or 'the default')."""
    if explicit is not None and str(explicit) != "":
        return "data.root"
    return f"${DATA_ENV}" if os.environ.get(DATA_ENV) else "the default data root"
