"""Every shipped config trains on its real data set (tiny widths, a few images)."""

from dataclasses import fields
from pathlib import Path

import pytest
import torch

from pixelsmith.config import load_config
from pixelsmith.training import Trainer

CONFIGS = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))
SHRINK = ["train.steps=1", "train.batch_size=8", "data.max_images=32", "train.progress=false",
          "train.num_samples=4"]


# the 128 px folder configs take 15 s each even shrunk: behind the slow marker
CASES = [pytest.param(p, marks=pytest.mark.slow) if p.stem.endswith("128") else p for p in CONFIGS]


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_trains_one_step(path, request, tmp_path):
    # configs name data sets, never paths: real ones are found through $PIXELSMITH_DATA
    assert load_config(path).data.root is None, f"{path} names a folder of its own machine"
    base = list(SHRINK)
    if load_config(path).data.name != "digits":
        shared = request.getfixturevalue("shared_data")  # skips when the real sets are absent
        if load_config(path).data.name == "image-folder":  # "your own pictures": photographs
            base.append(f"data.root={shared / 'restoration' / 'bsds'}")  # train/ val/ test/
    model = load_config(path, base).model
    narrow = [f"model.{f.name}=4" for f in fields(model) if f.name.endswith("width")]
    cfg = load_config(path, base + narrow)
    trainer = Trainer(cfg, tmp_path / "run").fit()
    assert trainer.step == 1
    img = trainer.batches.images
    if cfg.data.patch_size:  # restorers: random crops of (native-size) images
        p = cfg.data.patch_size
        assert trainer.batches.next().x.shape[1:] == (cfg.data.img_channels, p, p)
        assert img.shape[1] == cfg.data.img_channels and min(img.shape[2:]) >= p
    else:
        assert img.shape[1:] == (cfg.data.img_channels, cfg.data.img_size, cfg.data.img_size)
    assert img.dtype == torch.uint8 and img.float().std() > 10  # real pictures, not blanks
    assert (tmp_path / "run" / "checkpoints" / "last.json").is_file()
