"""``pixelsmith onnx``: restorers and inpainters exported to ONNX give onnxruntime the same
pictures as PyTorch (max abs difference < 1e-4 on a real image at an odd size), with
dynamic batch, height and width, metadata that says what the graph is, and one-line errors.
The super-resolution (through the CLI) and CNN-LSTM exports are marked slow: the default
suite keeps the U-Net that reads sigma and the inpainter."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.config import load_config
from pixelsmith.data.image_files import read_image
from pixelsmith.data.roots import data_root
from pixelsmith.errors import PixelsmithError
from pixelsmith.restore import inpaint, load_inpainter, load_restorer
from pixelsmith.restore import onnx_export as ox
from pixelsmith.training import Trainer
from pixelsmith.zoo import load_pretrained

BASE = ["data.name=digits", "data.img_size=16", "data.max_images=32", "data.patch_size=16",
        "train.steps=1", "train.batch_size=4", "train.num_samples=2", "train.progress=false",
        "train.sample_every=0", "train.device=cpu", "train.precision=fp32"]
# a U-Net that reads the noise level (stride 4: pads inside the graph), with attention
UNET = ["model.name=unet-restorer", "model.width=4", "model.max_width=8", "model.levels=3",
        "model.blocks=1", "model.noise_level_input=true", "data.img_channels=1",
        "objective.degradation={name: gaussian-noise, sigma_min: 0, sigma_max: 55}"]
SR = ["model.name=srnet", "model.scale=2", "model.width=4", "model.blocks=1",
      "objective.degradation={name: bicubic-down, scale: 2}", "data.img_channels=1"]
# the CNN-LSTM: pixel-unshuffle (stride 2) and the unrolled recurrence in the graph
CONVLSTM = ["model.name=convlstm-restorer", "model.width=4", "model.stages=2",
            "model.noise_level_input=true", "data.img_channels=1",
            "objective.degradation={name: gaussian-noise, sigma_min: 0, sigma_max: 55}"]
INPAINT = ["model.name=inpaint-unet", "model.g_width=4", "model.d_width=4", "model.max_width=8",
           "model.levels=2", "data.img_channels=3"]
TOL = 1e-4


def _need_onnx():
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name, reason=f"{name} not installed: pip install 'pixelsmith[onnx]'")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs(name) -> the run folder of a model trained one step, trained on first use (so
    a test skipped for want of onnx trains nothing)."""
    root = tmp_path_factory.mktemp("onnx-runs")
    configs = {"unet": UNET, "sr": SR, "convlstm": CONVLSTM, "inpaint": INPAINT}

    def run(name: str):
        if not (root / name).is_dir():
            Trainer(load_config(None, [*BASE, *configs[name]]), root / name).fit()
        return root / name

    return run


@pytest.fixture(scope="module")
def unet_onnx(runs, tmp_path_factory):
    """The U-Net restorer that reads sigma, exported once: (Restorer, ONNX file, metadata)."""
    _need_onnx()
    r = load_restorer(runs("unet"), device="cpu")
    path = tmp_path_factory.mktemp("onnx") / "unet.onnx"
    return r, path, ox.export_onnx(r, path)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> torch.Tensor:
    """A real picture (Set12's first image from the data root) cropped to an odd size,
    (1, 1, 101, 75) in [0, 1]; a generated PNG read the same way when there is none."""
    files = sorted((data_root() / "restoration" / "testsets" / "Set12").glob("*.png"))
    if files:
        path = files[0]
    else:
        yy, xx = np.mgrid[0:128, 0:128]
        pixels = (127 + 100 * np.sin(xx / 7.0) * np.cos(yy / 11.0)).astype(np.uint8)
        path = tmp_path_factory.mktemp("photo") / "made.png"
        Image.fromarray(pixels).save(path)
    x = read_image(path, channels=1).pixels.float() / 255  # (1, H, W)
    return x[None, :, 17:118, 9:84].contiguous()


def test_restorer_reading_sigma_matches_pytorch_on_a_real_image(unet_onnx, photo):
    r, path, meta = unet_onnx
    assert meta["task"] == "denoise" and meta["reads_sigma"] == "True"
    assert meta["min_side"] == "4" and meta["img_channels"] == "1"
    g = torch.Generator().manual_seed(0)
    y01 = (photo + 25 / 255 * torch.randn(photo.shape, generator=g)).clamp(0, 1)
    session = ox.onnx_session(path)
    assert [i.name for i in session.get_inputs()] == ["image", "sigma"]
    got = ox.run_onnx(session, y01, sigma=25)
    want = r(y01, 25)
    assert got.shape == want.shape == (1, 1, 101, 75)
    assert (got - want).abs().max() < TOL
    # dynamic batch and sides (odd, even, a multiple of the stride), one level per image
    batch = torch.rand(3, 1, 37, 64, generator=g)
    sigmas = torch.tensor([5.0, 25.0, 50.0])
    assert (ox.run_onnx(session, batch, sigma=sigmas) - r(batch, sigmas)).abs().max() < TOL
    assert (ox.run_onnx(session, batch[:2], sigma=15) - r(batch[:2], 15)).abs().max() < TOL
    with pytest.raises(PixelsmithError, match="at least 4x4"):
        ox.run_onnx(session, torch.rand(1, 1, 3, 9), sigma=25)
    with pytest.raises(PixelsmithError, match="needs sigma"):
        ox.run_onnx(session, y01)


@pytest.mark.slow  # ~20 s: a training run and a CLI export
def test_super_resolution_through_the_cli_with_metadata(runs, photo, tmp_path, cli):
    _need_onnx()
    out = tmp_path / "sub" / "sr.onnx"  # folders made
    res = cli("onnx", runs("sr"), "--out", out, env={"OMP_NUM_THREADS": "1"})
    assert "wrote" in res.stdout and "srnet (sr x2" in res.stdout
    meta = ox.read_metadata(out)
    assert meta["task"] == "sr" and meta["scale"] == "2" and meta["model"] == "srnet"
    assert meta["inputs"].startswith("image: float32 (N, C, H, W) in [0, 1]")
    assert "sigma" not in meta["inputs"] and meta["source"].startswith("sr/step_")
    r = load_restorer(runs("sr"), device="cpu")
    got = ox.run_onnx(out, photo)
    want = r(photo)
    assert got.shape == (1, 1, 202, 150)
    assert (got - want).abs().max() < TOL
    assert list(out.parent.iterdir()) == [out]  # no temporary or external-data file left


def test_inpainter_matches_pytorch(runs, photo, tmp_path):
    _need_onnx()
    out = tmp_path / "inpaint.onnx"
    meta = ox.export_onnx(runs("inpaint"), out)  # from the run folder, as the CLI does
    assert meta["task"] == "inpaint" and "mask: float32 (N, 1, H, W)" in meta["inputs"]
    assert meta["source"].startswith("inpaint/step_")
    model = load_inpainter(runs("inpaint"), device="cpu")
    y01 = photo.expand(2, 3, -1, -1).clone()
    y01[1] = y01[1].flip(-1)
    mask = torch.ones(2, 1, *y01.shape[-2:])
    mask[:, :, 30:60, 20:50] = 0  # a box hole
    mask[1, :, ::7] = 0  # and stripes in the second image
    got = ox.run_onnx(out, y01, mask=mask)
    want = inpaint(model, y01, mask)
    assert (got - want).abs().max() < TOL
    keep = mask.bool().expand_as(y01)
    assert torch.equal(got[keep], y01[keep])  # known pixels exact, as inpaint() keeps them


def test_one_line_errors(tiny_gan_run, tmp_path, cli):
    _need_onnx()
    with pytest.raises(PixelsmithError, match="is a folder") as e:
        ox.export_onnx(tiny_gan_run, tmp_path)  # refused before the model is read
    with pytest.raises(PixelsmithError, match="gan model: only restorers and inpainters"):
        ox.export_onnx(tiny_gan_run, tmp_path / "gan.onnx")
    with pytest.raises(PixelsmithError, match="no-such-model: no such run folder") as e:
        ox.export_onnx("no-such-model", tmp_path / "x.onnx")
    assert "\n" not in str(e.value)
    res = cli("onnx", tiny_gan_run, "--out", tmp_path / "gan.onnx", ok=False)
    assert res.returncode == 2 and res.stderr.startswith("error: ")
    assert len(res.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.onnx"))


def test_packaged_prefill_inpainter_matches_pytorch_at_any_size(photo, tmp_path):
    """The shipped inpaint-color (a prefill U-Net: its smooth fill runs a fixed-depth pyramid
    in the graph) exported once, run at two sizes the export never saw."""
    _need_onnx()
    out = tmp_path / "inpaint-color.onnx"
    meta = ox.export_onnx("inpaint-color", out)
    assert meta["source"] == "pixelsmith:inpaint-color" and meta["task"] == "inpaint"
    model = load_pretrained("inpaint-color", device="cpu")
    for y01 in (photo.expand(1, 3, -1, -1), photo.expand(1, 3, -1, -1)[..., :64, :].mT):
        mask = torch.ones(1, 1, *y01.shape[-2:])
        mask[:, :, 20:45, 10:40] = 0  # a box hole
        mask[:, :, ::9] = 0  # and stripes
        got = ox.run_onnx(out, y01.contiguous(), mask=mask)
        assert (got - inpaint(model, y01, mask)).abs().max() < TOL


def test_missing_extra_names_the_pip_command(tmp_path, monkeypatch):
    real = ox.importlib.util.find_spec
    monkeypatch.setattr(ox.importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("onnx") else real(name, *a))
    with pytest.raises(PixelsmithError, match=r"onnx, onnxscript: pip install 'pixelsmith\[onnx"):
        ox.export_onnx(tmp_path / "run", tmp_path / "sr.onnx")  # said before anything is read
    with pytest.raises(PixelsmithError, match=r"onnxruntime: pip install 'pixelsmith\[onnx\]'"):
        ox.onnx_session(tmp_path / "sr.onnx")


@pytest.mark.slow  # ~15 s: a training run and an export
def test_convlstm_restorer_exports(runs, photo, tmp_path):
    _need_onnx()
    r = load_restorer(runs("convlstm"), device="cpu")
    meta = ox.export_onnx(r, tmp_path / "convlstm.onnx")
    assert meta["model"] == "convlstm-restorer" and meta["min_side"] == "2"
    y01 = torch.cat([photo, photo.flip(-1)])  # (2, 1, 101, 75): odd sides, two levels
    sigmas = torch.tensor([15.0, 50.0])
    got = ox.run_onnx(tmp_path / "convlstm.onnx", y01, sigma=sigmas)
    assert (got - r(y01, sigmas)).abs().max() < TOL


def test_timing_helpers_run(unet_onnx):
    r, path, _ = unet_onnx
    image = torch.rand(1, 1, 48, 40)
    assert ox.time_onnx(path, image, 25, repeats=1) > 0  # no timed claims
    assert ox.time_torch(r, image, 25, repeats=1) > 0


def test_a_failed_save_leaves_no_file(unet_onnx, tmp_path, monkeypatch):
    import onnx

    r, _, _ = unet_onnx
    monkeypatch.setattr(ox.torch.onnx, "export",  # no second export: a stand-in graph
                        lambda *a, **k: SimpleNamespace(model_proto=onnx.ModelProto()))

    def disk_full(proto, path):
        Path(path).write_bytes(b"half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ox.export_onnx(r, tmp_path / "unet.onnx")
    assert list(tmp_path.iterdir()) == []


def test_source_names_no_local_folder(tmp_path):
    ckpt = tmp_path / "runs" / "dncnn" / "checkpoints" / "step_0000100"
    ckpt.mkdir(parents=True)
    assert ox._source_name(ckpt) == "dncnn/step_0000100"
    card = tmp_path / "zoo" / "dncnn-gray-blind"  # a packaged model: its card's folder
    card.mkdir(parents=True)
    (card / "manifest.json").write_text(json.dumps({"name": card.name}))
    assert ox._source_name(card) == "pixelsmith:dncnn-gray-blind"
