"""The restorers' standard training sets, by name, under the data root (docs/data.md says
where each is published and how to lay it out):

- ``train400``: ``restoration/train400/*.png``, DnCNN's 400 gray 180x180 training images;
- ``bsd432``: ``restoration/bsds/{train,val,test}/*.jpg``, the BSDS500 photographs minus the
  68 of CBSD68, as listed in ``restoration/bsds/BSD432.txt``.

Both read like an image folder (``data.img_size: 0`` keeps the files' own size, see
``patches.py``), so a config names the set and never a path of its own machine. The test
sets (Set12, BSD68, CBSD68, Kodak24, Set5, Set14) are read by
``metrics.restoration_protocol.load_test_set`` from ``restoration/testsets/<name>``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import ImageData
from pixelsmith.data.image_folder import load_image_folder
from pixelsmith.data.roots import data_root, data_root_origin
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import DATASETS

TRAIN400_DIR = Path("restoration") / "train400"
BSDS_DIR = Path("restoration") / "bsds"
BSD432_LIST = "BSD432.txt"  # relative to BSDS_DIR


def _folder(cfg: DataConfig, below: Path, name: str) -> Path:
    folder = data_root(cfg.root) / below
    if not folder.is_dir():
        raise PixelsmithError(f"{name} not found: {folder} does not exist (looked in "
                              f"{data_root_origin(cfg.root)}); lay it out as docs/data.md says "
                              "and point --data-root (or $PIXELSMITH_DATA) at the folder above "
                              "restoration/")
    return folder


@DATASETS.register("train400", help="DnCNN's 400 gray 180x180 training images "
                   "(data root/restoration/train400)")
def load_train400(cfg: DataConfig) -> ImageData:
    folder = _folder(cfg, TRAIN400_DIR, "train400")
    return load_image_folder(replace(cfg, name="image-folder", root=str(folder)))


@DATASETS.register("bsd432", help="BSDS500 minus CBSD68: 432 colour photographs "
                   "(data root/restoration/bsds, BSD432.txt)")
def load_bsd432(cfg: DataConfig) -> ImageData:
    folder = _folder(cfg, BSDS_DIR, "bsd432")
    return load_image_folder(replace(cfg, name="image-folder", root=str(folder),
                                     file_list=cfg.file_list or BSD432_LIST))
