"""Inpainting: the model, the objective through the one trainer, exact resume, the
library on real files, and the OpenCV baselines."""

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.config import load_config
from pixelsmith.data.masks import make_mask
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import generate
from pixelsmith.metrics.paired import psnr
from pixelsmith.models import build_model
from pixelsmith.registry import BASELINES
from pixelsmith.restore import inpaint, inpaint_files, load_inpainter
from pixelsmith.restore.inpaint_baselines import navier_stokes, telea
from pixelsmith.training import Trainer
from pixelsmith.training.checkpoint import load_checkpoint

TINY = [
    "data.name=digits", "data.img_size=16", "data.max_images=64", "model.name=inpaint-unet",
    "model.g_width=4", "model.d_width=4", "model.max_width=8", "model.levels=2",
    "train.batch_size=8", "train.log_every=1", "train.sample_every=0", "train.num_samples=4",
    "train.checkpoint_every=0", "train.progress=false",
]


def tiny(*overrides: str):
    return load_config(None, [*TINY, *overrides])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("inpaint") / "run"
    Trainer(tiny("train.steps=2", "data.img_channels=1"), run).fit()
    return run


@pytest.mark.parametrize("size", [28, 32, 37])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_shapes_and_known_pixels_exact(size, channels):
    cfg = tiny().model
    nets = build_model(cfg, img_size=size, img_channels=channels)
    g, d = nets["generator"], nets["discriminator"]
    y = torch.rand(2, channels, size, size) * 2 - 1
    mask = make_mask("free-form", coverage=0.3)(2, size, size,
                                                  generator=torch.Generator().manual_seed(0))
    out = g(y, mask)
    assert out.shape == y.shape and out.abs().max() <= 1
    filled = g.inpaint(y, mask)
    known = mask.bool().expand_as(y)
    assert torch.equal(filled[known], y[known])  # exactly, not approximately
    assert not torch.equal(filled[~known], y[~known])
    assert d(filled, mask).dim() == 2  # (B, patches)
    # the hole's content does not leak in: G only sees y * mask
    assert torch.equal(g(torch.where(known, y, torch.full_like(y, 0.7)), mask), out)


def test_smooth_fill_interpolates_the_hole_from_known_pixels():
    from pixelsmith.models.inpaint_unet import smooth_fill

    mask = torch.ones(1, 1, 19, 30)
    mask[..., 4:15, 9:22] = 0  # an 11 x 13 hole
    flat = torch.full((1, 3, 19, 30), 0.3)
    assert torch.allclose(smooth_fill(flat * mask, mask), flat)  # flat stays flat
    ramp = torch.linspace(-1, 1, 30).expand(1, 3, 19, 30).clone()  # left to right
    filled = smooth_fill(ramp * mask, mask)
    keep = mask.expand_as(ramp).bool()
    assert torch.equal(filled[keep], ramp[keep])  # known pixels untouched
    hole = filled[0, 0, 4:15, 9:22]
    # the hole lies between the values at its left and right edges, rising left to right
    assert hole.min() >= ramp[0, 0, 0, 8] - 1e-6 and hole.max() <= ramp[0, 0, 0, 22] + 1e-6
    assert (hole[:, -1] > hole[:, 0]).all()
    assert smooth_fill(ramp, torch.ones(1, 1, 19, 30)) is ramp  # nothing missing


def test_prefill_generator_starts_as_the_smooth_fill():
    from pixelsmith.models.inpaint_unet import smooth_fill

    nets = build_model(tiny("model.prefill=true").model, img_size=16, img_channels=3)
    g = nets["generator"]
    y = torch.rand(2, 3, 21, 30, generator=torch.Generator().manual_seed(1)) * 2 - 1
    mask = make_mask("random-boxes", coverage=0.3)(2, 21, 30,
                                                  generator=torch.Generator().manual_seed(2))
    assert torch.allclose(g(y, mask), smooth_fill(y * mask, mask).clamp(-1, 1))
    known = mask.bool().expand_as(y)  # the hole's content never leaks in
    assert torch.equal(g(torch.where(known, y, torch.full_like(y, 0.7)), mask), g(y, mask))


def test_one_training_step_logs_losses_and_grids(tmp_path):
    trainer = Trainer(tiny("train.steps=1", "data.img_channels=3"), tmp_path / "run").fit()
    assert trainer.step == 1
    row = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1]
    for key in ("d/loss", "g/l1_hole", "g/l1_valid", "g/adv", "g/psnr_hole"):
        assert f'"{key}"' in row
    grid = Image.open(tmp_path / "run" / "samples" / "step_0000001.png")
    # 4 strips of (3 x 16 + 4) px in a 2 x 2 grid with 2 px padding
    assert grid.size == (2 * (3 * 16 + 4) + 3 * 2, 2 * 16 + 3 * 2)
    inputs = trainer.fixed_inputs  # fixed images are the first training images
    assert torch.equal(inputs["x"], trainer.batches.images[:4].float() / 127.5 - 1)


def test_resume_is_exact(tmp_path):
    full = Trainer(tiny("train.steps=6"), tmp_path / "full").fit()
    Trainer(tiny("train.steps=3"), tmp_path / "part").fit()
    resumed = Trainer.resume(tmp_path / "part", ["train.steps=6"]).fit()
    a, b = full.nets.state_dict(), resumed.nets.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # masks are redrawn identically


def test_plain_l1_training_has_no_discriminator_phase(tmp_path):
    """adv_weight 0: only G trains (no D forward/backward each step), D stays as built."""
    trainer = Trainer(tiny("train.steps=2", "objective.adv_weight=0"), tmp_path / "run")
    d_before = {k: v.clone() for k, v in trainer.nets["discriminator"].state_dict().items()}
    trainer.fit()
    assert [p.name for p in trainer.phases] == ["g"]
    d_after = trainer.nets["discriminator"].state_dict()
    assert all(torch.equal(d_before[k], d_after[k]) for k in d_before)
    row = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1]
    assert '"g/l1_hole"' in row and '"d/loss"' not in row and '"g/adv"' not in row
    resumed = Trainer.resume(tmp_path / "run", ["train.steps=3"]).fit()  # resumes without D
    assert resumed.step == 3


def test_ranks_mask_their_slice_of_the_global_batch(tmp_path):
    from pixelsmith.objectives.base import Batch

    obj = Trainer(tiny("objective.masks=random-boxes,free-form"), tmp_path / "run").objective
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    torch.manual_seed(3)
    whole = obj._batch_masks(Batch(x))
    parts = []
    for rank in range(3):  # every rank starts from the same seed, as under torchrun
        obj.shard = (rank, 3)
        torch.manual_seed(3)
        parts.append(obj._batch_masks(Batch(x[rank * 2 : rank * 2 + 2])))
    assert torch.equal(torch.cat(parts), whole)
    assert not torch.equal(parts[0], parts[1])  # each rank's images get their own masks


def test_inpaint_function_keeps_known_pixels(trained_run):
    model = load_inpainter(trained_run, device="cpu")
    y01 = torch.rand(3, 1, 20, 24)
    mask = make_mask("random-boxes", coverage=0.3)(3, 20, 24)
    x01 = inpaint(model, y01, mask)
    assert x01.shape == y01.shape and 0 <= x01.min() and x01.max() <= 1
    assert torch.equal(x01[mask.bool()], y01[mask.bool()])
    with pytest.raises(PixelsmithError, match="1-channel images, got 3"):
        inpaint(model, torch.rand(1, 3, 20, 24), mask[:1])
    with pytest.raises(PixelsmithError, match="restore --task inpaint"):
        generate(model, 2)  # `pixelsmith sample` has no images to fill: a clear message


def _picture(h, w, channels):
    yy, xx = np.mgrid[0:h, 0:w]
    a = (127 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).astype(np.uint8)
    return a if channels == 1 else np.stack([a, a[::-1], 255 - a], -1)


def _mask_file(path, h, w):
    m = np.zeros((h, w), np.uint8)
    m[h // 3 : h // 2, w // 4 : w // 2] = 255  # white = missing
    Image.fromarray(m).save(path)
    return m == 255


def test_inpaint_files_gray_png_writes_outputs(trained_run, tmp_path):
    pic = _picture(40, 50, 1)  # larger than the 16 px training size, not square
    Image.fromarray(pic).save(tmp_path / "img.png")
    hole = _mask_file(tmp_path / "mask.png", 40, 50)
    out = inpaint_files(trained_run, [tmp_path / "img.png"], tmp_path / "mask.png",
                        tmp_path / "out", compare=True, device="cpu")
    assert out == [tmp_path / "out" / "img.png"]
    res = np.array(Image.open(out[0]))
    assert res.shape == (40, 50) and (res[~hole] == pic[~hole]).all()
    assert Image.open(tmp_path / "out" / "img_compare.png").size == (2 * 50 + 4, 40)


def test_inpaint_files_rgb_and_errors(tmp_path, trained_run):
    run = tmp_path / "rgb"
    Trainer(tiny("train.steps=1", "data.img_channels=3"), run).fit()
    pic = _picture(24, 24, 3)
    Image.fromarray(pic).save(tmp_path / "img.jpg", quality=95)
    Image.fromarray(np.dstack([pic, np.full((24, 24), 200, np.uint8)])).save(tmp_path / "a.png")
    hole = _mask_file(tmp_path / "mask.png", 24, 24)
    out = inpaint_files(run, [tmp_path / "img.jpg", tmp_path / "a.png"], tmp_path / "mask.png",
                        tmp_path / "out", compare=False, device="cpu")
    jpg = np.array(Image.open(tmp_path / "img.jpg"))
    assert (np.array(Image.open(out[0]))[~hole] == jpg[~hole]).all()
    rgba = np.array(Image.open(out[1]))  # transparency kept as it was
    assert rgba.shape == (24, 24, 4) and (rgba[..., 3] == 200).all()
    assert (rgba[..., :3][~hole] == pic[~hole]).all()
    _mask_file(tmp_path / "small.png", 20, 24)
    with pytest.raises(PixelsmithError, match=r"small\.png is 24x20 .* image is 24x24"):
        inpaint_files(run, [tmp_path / "a.png"], tmp_path / "small.png", tmp_path / "o")
    with pytest.raises(PixelsmithError, match="--mask"):
        inpaint_files(run, [tmp_path / "a.png"], None, tmp_path / "o")
    # a gray picture goes through the colour model in its three channels and stays gray
    gray = _picture(24, 24, 1)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = inpaint_files(run, [tmp_path / "gray.png"], tmp_path / "mask.png", tmp_path / "g")
    filled = Image.open(out[0])
    assert filled.mode == "L" and (np.array(filled)[~hole] == gray[~hole]).all()
    # colour cannot go into a gray model
    with pytest.raises(PixelsmithError, match=r"img\.jpg is colour .* gray"):
        inpaint_files(trained_run, [tmp_path / "img.jpg"], tmp_path / "mask.png",
                      tmp_path / "o")


def test_inpaint_files_refuses_other_families(tmp_path):
    run = tmp_path / "gan"
    Trainer(load_config(None, ["data.name=digits", "data.img_size=16", "data.max_images=16",
                               "model.z_dim=4", "model.g_width=4", "model.d_width=4",
                               "train.steps=1", "train.batch_size=8", "train.progress=false",
                               "train.num_samples=4"]), run).fit()
    with pytest.raises(PixelsmithError, match="'gan' model, not an inpainting one"):
        load_inpainter(run, device="cpu")
    Image.fromarray(_picture(16, 16, 1)).save(tmp_path / "p.png")
    _mask_file(tmp_path / "m.png", 16, 16)
    _, _, exc = _restore("--task", "inpaint", "-c", run, "-i", tmp_path / "p.png", "--mask",
                         tmp_path / "m.png", "-o", tmp_path / "o")
    assert isinstance(exc, PixelsmithError)
    assert "--task inpaint does not fit" in str(exc) and "a gan model" in str(exc)


def _restore(*args):
    """``pixelsmith restore`` in-process: (exit code, stdout + stderr, exception)."""
    from typer.testing import CliRunner

    from pixelsmith.cli import app

    res = CliRunner().invoke(app, ["restore", *map(str, args)])
    return res.exit_code, res.output, res.exception


def test_restore_cli_inpaint_rejects_options_it_ignores_and_other_tasks(trained_run,
                                                                         tmp_path):
    Image.fromarray(_picture(16, 16, 1)).save(tmp_path / "p.png")
    _mask_file(tmp_path / "m.png", 16, 16)
    base = ["-c", trained_run, "-i", tmp_path / "p.png", "--mask", tmp_path / "m.png",
            "-o", tmp_path / "o"]
    _, _, exc = _restore(*base, "--tile", "64", "--sigma", "5")
    assert isinstance(exc, PixelsmithError)
    assert str(exc).startswith("--tile, --sigma not used when inpainting")
    _, _, exc = _restore(*base, "--degrade")
    assert str(exc).startswith("--degrade not used when inpainting")
    _, _, exc = _restore(*base, "--task", "denoise")
    assert isinstance(exc, PixelsmithError) and "--task denoise does not fit" in str(exc)
    assert not (tmp_path / "o").exists()  # nothing written on a rejected command
    code, _, exc = _restore(*base, "--task", "inpaint")  # defaults left alone: fine
    assert code == 0, exc
    assert (tmp_path / "o" / "p.png").is_file()


def test_inpaint_folder_skips_unreadable_files(trained_run, tmp_path):
    from pixelsmith.errors import UnreadableImage

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_picture(16, 16, 1)).save(src / "a.png")
    (src / "bad.png").write_bytes(b"\x89PNG broken")
    _mask_file(tmp_path / "m.png", 16, 16)
    seen = []
    out = inpaint_files(trained_run, [src / "a.png", src / "bad.png"], tmp_path / "m.png",
                        tmp_path / "o", on_unreadable=lambda p, e: seen.append((p, str(e))))
    assert out == [tmp_path / "o" / "a.png"]
    assert seen[0][0] == src / "bad.png" and "cannot read image" in seen[0][1]
    with pytest.raises(UnreadableImage, match="bad.png"):
        inpaint_files(trained_run, [src / "bad.png"], tmp_path / "m.png", tmp_path / "o")
    code, text, _ = _restore("-c", trained_run, "-i", src, "--mask", tmp_path / "m.png",
                             "-o", tmp_path / "o2")
    assert code == 1 and "skipped 1 unreadable file(s)" in text and "bad.png" in text
    assert (tmp_path / "o2" / "a.png").is_file()


def test_bench_inpainting_prints_one_line_errors(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).parents[1] / "bench" / "inpainting.py"
    proc = subprocess.run([sys.executable, str(bench), "--dataset", "digits", "--num", "4",
                           "--checkpoint", str(tmp_path / "nope")], capture_output=True,
                          text=True, timeout=120,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1",
                               "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert "nope" in proc.stderr


def test_bench_inpainting_scores_photograph_tiles(tmp_path):
    """--photos: tiles of a colour test set's pictures (any size) through a colour inpainter
    and both OpenCV baselines; every method gets a row, the tile count is stated."""
    import subprocess
    import sys
    from pathlib import Path

    sets = tmp_path / "data" / "restoration" / "testsets" / "Kodak24"
    sets.mkdir(parents=True)
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 96)[None, :, None] * np.ones((64, 1, 3))
    for i in range(2):  # a landscape and a portrait picture, as in Kodak24
        pic = np.clip(smooth + rng.normal(0, 4, (64, 96, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pic if i == 0 else pic.transpose(1, 0, 2).copy()).save(
            sets / f"kodim0{i + 1}.png")
    run = tmp_path / "run"
    Trainer(tiny("train.steps=1", "data.img_channels=3"), run).fit()
    bench = Path(__file__).parents[1] / "bench" / "inpainting.py"
    proc = subprocess.run([sys.executable, str(bench), "--photos", "Kodak24", "--crop", "32",
                           "--num", "10", "--data-root", str(tmp_path / "data"),
                           "--checkpoint", str(run), "--masks", "free-form,random-boxes",
                           "--coverage", "0.2"], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1",
                               "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "first 10 of the 12 non-overlapping 32x32 tiles of Kodak24" in out
    for kind in ("free-form", "random-boxes"):
        assert f"## {kind} masks" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "PSNR" not in ln]
    assert len(rows) == 2 * 4  # masked input, telea, navier-stokes, ours; per mask kind
    assert all("n/a (photographs)" in ln for ln in rows)
    telea_psnr = [float(ln.split("|")[2]) for ln in rows if ln.startswith("| telea")]
    masked_psnr = [float(ln.split("|")[2]) for ln in rows if ln.startswith("| masked")]
    assert all(t > m for t, m in zip(telea_psnr, masked_psnr))  # smooth ramps: Telea fills well


@pytest.mark.parametrize("name", ["telea", "navier-stokes"])
@pytest.mark.parametrize("channels", [1, 3])
def test_baselines_beat_mid_gray_on_a_smooth_image(name, channels):
    yy, xx = np.mgrid[0:48, 0:48]
    ramp = torch.from_numpy(40 + 2.5 * xx + 1.5 * yy + 20 * np.sin(yy / 15)).float().div(255)
    x01 = ramp[None, None] if channels == 1 else torch.stack([ramp, ramp.T, 1 - ramp])[None]
    mask = make_mask("center-box", coverage=0.1)(1, 48, 48)
    gray = torch.where(mask.bool(), x01, torch.full_like(x01, 0.5))
    filled = BASELINES.get(name)(gray, {"mask": mask}, radius=3)
    assert torch.equal(filled[mask.expand_as(x01).bool()], x01[mask.expand_as(x01).bool()])
    hole = 1 - mask
    base = psnr(gray * 2 - 1, x01 * 2 - 1, hole)
    ours = psnr(filled * 2 - 1, x01 * 2 - 1, hole)
    assert ours > base + 6, (float(ours), float(base))  # measured: about +12 dB
    with pytest.raises(PixelsmithError, match="known\\['mask'\\]"):
        BASELINES.get(name)(x01, {})


def test_checkpoint_records_the_inpainting_objective(trained_run):
    assert load_checkpoint(trained_run).objective_name == "inpainting"


def test_baselines_are_registered():
    assert BASELINES.get("telea") is telea and BASELINES.get("navier-stokes") is navier_stokes


def test_restore_cli_inpaints_with_a_mask_file(trained_run, tmp_path):
    import subprocess
    import sys

    pic = _picture(30, 36, 1)
    Image.fromarray(pic).save(tmp_path / "img.png")
    hole = _mask_file(tmp_path / "mask.png", 30, 36)
    # one subprocess only (each costs seconds of imports); the errors are tested above
    proc = subprocess.run(
        [sys.executable, "-m", "pixelsmith", "restore", "--task", "inpaint", "--checkpoint",
         str(trained_run), "--input", str(tmp_path / "img.png"), "--mask",
         str(tmp_path / "mask.png"), "--out", str(tmp_path / "out"), "--compare",
         "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 1 file(s)" in proc.stdout
    res = np.array(Image.open(tmp_path / "out" / "img.png"))
    assert res.shape == (30, 36) and (res[~hole] == pic[~hole]).all()
    assert Image.open(tmp_path / "out" / "img_compare.png").size == (2 * 36 + 4, 30)


def test_perceptual_term_uses_an_evaluator_folder(tmp_path):
    import json

    from safetensors.torch import save_file

    from pixelsmith.metrics.evaluator_net import EvaluatorNet

    with pytest.raises(PixelsmithError, match="perceptual_evaluator"):
        Trainer(tiny("train.steps=1", "objective.perceptual_weight=0.5"), tmp_path / "a")
    net = EvaluatorNet(img_channels=1, num_classes=10, width=4)  # untrained: only the plumbing
    folder = tmp_path / "evaluator"
    folder.mkdir()
    save_file(net.state_dict(), str(folder / "evaluator.safetensors"))
    (folder / "evaluator.json").write_text(json.dumps(
        {"dataset": "digits", "img_size": 16, "img_channels": 1, "num_classes": 10, "width": 4,
         "weights_sha256": "0" * 64}))
    trainer = Trainer(tiny("train.steps=1", "objective.perceptual_weight=0.5",
                           f"objective.perceptual_evaluator={folder}"), tmp_path / "b").fit()
    row = (tmp_path / "b" / "metrics.jsonl").read_text()
    assert '"g/perceptual"' in row
    # the evaluator is a fixed judge, not trained by the G phase
    ev = trainer.objective.features
    assert all(torch.equal(p, net.state_dict()[k]) for k, p in ev.state_dict().items())
