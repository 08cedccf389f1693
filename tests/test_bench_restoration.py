"""The restoration benchmark (pixelsmith.restore.benchmark, run by bench/restoration.py) end
to end on tiny stand-in test sets: tables, published rows, markdown file, protocol numbers
recomputed independently, and bad options."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.errors import PixelsmithError
from pixelsmith.restore import benchmark


@pytest.fixture(scope="module")
def bench():
    return benchmark


def _write_sets(root: Path) -> Path:
    rng = np.random.default_rng(0)
    base = root / "restoration" / "testsets"
    yy, xx = np.mgrid[0:36, 0:36]
    smooth = (128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.uint8)
    for name, mode in (("Set12", "L"), ("Set5", "RGB")):
        (base / name).mkdir(parents=True)
        for i in range(2):
            img = smooth if mode == "L" else np.stack([smooth, smooth[::-1], smooth.T], -1)
            img = np.clip(img.astype(int) + rng.integers(-3, 4, img.shape), 0, 255)
            Image.fromarray(img.astype(np.uint8), mode).save(base / name / f"{i:02d}.png")
    return base


def test_bench_tables_and_markdown(bench, tmp_path, capsys):
    _write_sets(tmp_path)
    out = tmp_path / "table.md"
    text = bench.main(["--data-root", str(tmp_path), "--sets", "Set12,Set5", "--sigmas", "25",
                       "--scales", "2,3", "--out", str(out)])
    assert out.read_text() == text and text in capsys.readouterr().out
    assert "torch " + torch.__version__ in text and "--sigmas 25" in text
    lines = text.splitlines()
    row = {ln.split(" | ")[0].lstrip("| "): ln for ln in lines if ln.startswith("| ")}
    assert set(row) >= {"noisy input y (unclipped)", "gaussian-filter", "median-filter",
                        "bicubic", "method"}
    assert "DnCNN-S, published (Zhang et al., DnCNN, TIP 2017)" in row
    assert " 30.44 / — " in row["DnCNN-S, published (Zhang et al., DnCNN, TIP 2017)"]
    assert "33.66 / —" in row["bicubic (MATLAB imresize), published (Dong et al., SRCNN, "
                              "TPAMI 2016)"]

    def psnr_cell(label, col=1):
        return float(row[label].split(" | ")[col].split(" / ")[0])

    # sigma 25 on [0, 255]: the noisy input's PSNR is 10 log10(255^2 / 25^2) = 20.17 dB
    assert psnr_cell("noisy input y (unclipped)") == pytest.approx(20 * math.log10(255 / 25),
                                                                   abs=0.3)
    assert psnr_cell("gaussian-filter") > psnr_cell("noisy input y (unclipped)") + 3
    assert psnr_cell("bicubic", 1) > psnr_cell("bicubic", 2) > 25  # x2 easier than x3


def test_bench_bicubic_number_recomputed_independently(bench, tmp_path):
    """The Set5 x2 cell equals a hand computation: crop, downsample, Pillow's bicubic up,
    8 bits, MATLAB's Y formula rounded to 8 bits (rgb2ycbcr on uint8), 2 px shaved, PSNR
    with peak 255, averaged."""
    base = _write_sets(tmp_path)
    text = bench.main(["--data-root", str(tmp_path), "--sets", "Set5", "--scales", "2",
                       "--baselines", "bicubic"])
    cell = next(ln for ln in text.splitlines() if ln.startswith("| bicubic |"))
    ours = float(cell.split(" | ")[1].split(" / ")[0])
    psnrs = []
    for f in sorted((base / "Set5").iterdir()):
        hr = torch.from_numpy(np.asarray(Image.open(f)).copy()).permute(2, 0, 1)[None] / 255.0
        lr = torch.nn.functional.interpolate(hr, scale_factor=0.5, mode="bicubic",
                                             antialias=True).clamp(0, 1)
        up = np.stack([np.asarray(Image.fromarray(c, "F").resize((36, 36), Image.BICUBIC))
                       for c in lr[0].numpy()])
        up = np.clip(np.round(np.clip(up, 0, 1) * 255), 0, 255) / 255
        ref = hr[0].double().numpy()
        w = np.array([65.481, 128.553, 24.966])[:, None, None]
        y_up, y_ref = np.round(16 + (up * w).sum(0)), np.round(16 + (ref * w).sum(0))
        mse = ((y_up - y_ref)[2:-2, 2:-2] ** 2).mean()
        psnrs.append(10 * math.log10(255**2 / mse))
    assert ours == pytest.approx(np.mean(psnrs), abs=0.006)  # the table rounds to 0.01


def test_bench_bad_options(bench, tmp_path):
    _write_sets(tmp_path)
    with pytest.raises(PixelsmithError, match="unknown test set 'Set99'"):
        bench.main(["--data-root", str(tmp_path), "--sets", "Set99"])
    with pytest.raises(PixelsmithError, match="unknown baseline 'nope'"):
        bench.main(["--data-root", str(tmp_path), "--baselines", "nope"])
    with pytest.raises(PixelsmithError, match="test set folder .*BSD68 does not exist"):
        bench.main(["--data-root", str(tmp_path), "--sets", "BSD68"])


def _tiny_run(tmp_path: Path, name: str, overrides: list[str]) -> Path:
    from pixelsmith.config import load_config
    from pixelsmith.training import Trainer

    base = ["data.name=digits", "data.img_size=32", "data.img_channels=1", "data.patch_size=16",
            "data.max_images=16", "objective.name=restoration", "train.steps=1",
            "train.batch_size=4", "train.progress=false", "train.num_samples=4"]
    cfg = load_config(None, base + overrides)
    Trainer(cfg, tmp_path / name).fit()
    return tmp_path / name


def test_bench_scores_checkpoints_where_they_fit(bench, tmp_path):
    _write_sets(tmp_path)
    den = _tiny_run(tmp_path, "den", ["model.name=dncnn", "model.depth=3", "model.width=4",
                                      "objective.degradation={name: gaussian-noise, sigma: 25}"])
    sr = _tiny_run(tmp_path, "sr", ["model.name=srnet", "model.width=4", "model.blocks=1",
                                    "objective.degradation={name: bicubic-down, scale: 2}"])
    text = bench.main(["--data-root", str(tmp_path), "--sets", "Set12,Set5", "--sigmas", "25",
                       "--scales", "2,3", "--baselines", "gaussian-filter,bicubic",
                       "--checkpoint", str(den), "--checkpoint", str(sr), "--device", "cpu",
                       "--tile", "24", "--overlap", "8"])
    rows = [ln for ln in text.splitlines() if ln.startswith("| `")]
    den_row = next(r for r in rows if r.startswith("| `den` (dncnn, trained on gaussian-noise"))
    sr_row = next(r for r in rows if r.startswith("| `sr` (srnet, trained on bicubic-down"))
    assert float(den_row.split(" | ")[1].split(" / ")[0]) > 5  # a real score was computed
    cells = sr_row.split(" | ")
    assert float(cells[1].split(" / ")[0]) > 5 and cells[2] == "—"  # x2 model: no x3 cell
    assert "`sr` (srnet" in text and "not run on Set12" in text  # SR model skips denoising
    assert "`den` (dncnn" in text and "not run on Set5" in text
