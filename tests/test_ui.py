"""The functions behind the web app's tabs (``pixelsmith.ui``), called directly without a
browser: on the session's tiny GAN run, a tiny inpainting run and the packaged gray
denoiser. The grids and walks are checked against the real command line's files, the
restorations against the clean picture and the packaged model run by ``pixelsmith restore``.
The browser itself is driven in test_ui_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pixelsmith.config import load_config
from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.training import Trainer
from pixelsmith.ui import MISSING, require_gradio
from pixelsmith.ui import generate_tab as G
from pixelsmith.ui import restore_tab as R
from pixelsmith.ui import runs_tab as T
from pixelsmith.ui.catalog import ModelCache, find_runs, model_choices, resolve_choice
from pixelsmith.ui.serving import free_port
from pixelsmith.ui.uploads import check_upload, read_upload
from pixelsmith.zoo import list_models

INPAINT = [
    "data.name=digits", "data.img_size=16", "data.max_images=32", "model.name=inpaint-unet",
    "model.g_width=4", "model.d_width=4", "model.max_width=8", "model.levels=2",
    "train.batch_size=8", "train.sample_every=0", "train.num_samples=4", "train.steps=1",
    "train.checkpoint_every=0", "train.progress=false",
]
DIFFUSION = [
    "model.name=unet-denoiser", "model.width=8", "model.max_width=8", "model.levels=2",
    "model.blocks=1", "model.dropout=0", "data.name=digits", "data.img_size=8",
    "data.max_images=16", "train.batch_size=8", "train.steps=1", "train.sample_every=0",
    "train.checkpoint_every=0", "train.num_samples=4", "train.progress=false",
    "objective.sample_steps=3",
]
HAS_DENOISER = any(c.name == "denoise-gray" for c in list_models())


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_gan_run):
    """A runs folder: gan (a copy of the session's tiny GAN), an inpainter and a
    diffusion model (1 step each), and a folder that is no run."""
    root = tmp_path_factory.mktemp("ui-runs")
    shutil.copytree(tiny_gan_run, root / "gan")
    Trainer(load_config(None, INPAINT), root / "group" / "inpaint").fit()
    Trainer(load_config(None, DIFFUSION), root / "diffusion").fit()
    (root / "notes").mkdir()
    return root


@pytest.fixture(scope="module")
def cache():
    return ModelCache(device="cpu")


def _cli(*args):
    from pixelsmith.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def _pixels(path) -> np.ndarray:
    with Image.open(path) as pic:
        return np.asarray(pic.convert("RGB"))


def test_catalog_finds_runs_and_what_they_do(root):
    runs = {e.name: e for e in find_runs(root)}
    assert set(runs) == {"diffusion", "gan", "group/inpaint"}
    assert (runs["gan"].objective, runs["gan"].makes_images) == ("gan", True)
    assert (runs["group/inpaint"].task, runs["group/inpaint"].makes_images) == ("inpaint", False)
    generators = [c.name for c in list_models() if c.task == "generate"]  # packaged: after
    assert G.generator_names(root) == ["run: diffusion", "run: gan", *generators]
    # a diffusion model also fills holes (RePaint), as `pixelsmith restore --task inpaint`
    packaged = [c.name for c in list_models() if c.task == "inpaint"]  # listed first
    assert model_choices(root, "inpaint") == [*packaged, "run: diffusion", "run: group/inpaint"]
    if HAS_DENOISER:
        assert "denoise-gray" in model_choices(root, "denoise")


def test_picker_entries_resolve_to_a_run_or_a_packaged_model(root, tmp_path):
    """One rule for every tab: "run: NAME" is a run, another name a packaged model; the
    generator tabs also take a bare run name, but a packaged model of that name wins (the
    picker lists the run as "run: NAME", so both stay reachable)."""
    assert resolve_choice(root, "run: group/inpaint").run.name == "group/inpaint"
    assert resolve_choice(root, "gan", plain_runs=True).run.name == "gan"
    assert resolve_choice(root, "gan").packaged == "gan"  # the Restore tab's packaged names
    for bad, flags in [("run: nope", {}), ("nope", {"plain_runs": True})]:
        with pytest.raises(PixelsmithError, match=r"no run 'nope' under .* \(runs there: "):
            resolve_choice(root, bad, **flags)
    with pytest.raises(PixelsmithError, match="choose a model first"):
        resolve_choice(root, "")
    packaged = [c.name for c in list_models()]
    if packaged:
        shutil.copytree(root / "gan", tmp_path / packaged[0])  # a run of the same name
        bare = resolve_choice(tmp_path, packaged[0], plain_runs=True)
        assert (bare.packaged, bare.run) == (packaged[0], None)
        run = resolve_choice(tmp_path, "run: " + packaged[0], plain_runs=True)
        assert run.run.path == tmp_path / packaged[0]


def test_runs_tab_config_curves_grids_and_records(root, tmp_path):
    view = T.show_run(root, "gan", tmp_path)
    assert view.config_text == (root / "gan" / "config.yaml").read_text()
    assert view.steps == [2] and view.records == []
    assert Image.open(view.curves).size[0] > 100
    assert T.sample_grid(root, "gan", 1) == root / "gan" / "samples" / "step_0000002.png"
    # a run that trains now: an evaluation record, then a half-written row
    run = tmp_path / "live"
    shutil.copytree(root / "gan", run / "gan")
    (run / "gan" / "samples" / "step_0000004.png").write_bytes(
        (root / "gan" / "samples" / "step_0000002.png").read_bytes())
    record = {"step": 2, "metric": "fid1k[digits-evaluator]", "fid1k[digits-evaluator]": 123.456,
              "protocol": {"reference": "digits", "n_fake": 1000, "features": "evaluator"},
              "date": "2026-12-02T12:00:00Z"}
    with (run / "gan" / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n" + '{"step": 3, "g/loss": 0.')
    view = T.show_run(run, "gan", tmp_path)
    assert view.records == [[2, "fid1k[digits-evaluator]", 123.456, "", "digits", 1000,
                             "evaluator", "2026-12-02T12:00:00Z"]]
    assert view.steps == [2, 4]
    assert T.sample_grid(run, "gan", 3.6).name == "step_0000004.png"  # nearest saved step
    with pytest.raises(PixelsmithError,
                       match="no run 'nope'.*runs there: diffusion, gan, group/inpaint"):
        T.show_run(root, "nope", tmp_path)


def test_generate_grid_is_what_pixelsmith_sample_writes(root, cache, tmp_path):
    got = G.generate_grid(cache, root, "gan", tmp_path, num=6, seed=3)
    _cli("sample", root / "gan", "--num", 6, "--seed", 3, "-o", tmp_path / "cli.png",
         "--device", "cpu")
    assert np.array_equal(_pixels(got), _pixels(tmp_path / "cli.png"))
    other = G.generate_grid(cache, root, "gan", tmp_path, num=6, seed=4)
    assert not np.array_equal(_pixels(got), _pixels(other))
    # the truncation trick, as `pixelsmith sample --truncation`
    cut = G.generate_grid(cache, root, "gan", tmp_path, num=6, seed=3,
                          overrides=G.sampling_overrides(0.3))
    _cli("sample", root / "gan", "--num", 6, "--seed", 3, "-o", tmp_path / "cut.png",
         "--device", "cpu", "--truncation", 0.3)
    assert np.array_equal(_pixels(cut), _pixels(tmp_path / "cut.png"))
    assert not np.array_equal(_pixels(cut), _pixels(got))
    assert G.sampling_overrides(0) == () and G.sampling_overrides(None) == ()
    with pytest.raises(PixelsmithError, match="--truncation must be a number > 0"):
        G.sampling_overrides(-1)
    assert G.sampling_overrides(None, "ddim", 2.0, "", None) == (
        "objective.sampler=ddim", "objective.sample_steps=2")
    info = G.model_info(cache, root, "gan")
    assert (info.num_classes, info.can_encode, info.img_size, info.truncation) == (
        0, False, 16, 0.0)
    with pytest.raises(PixelsmithError, match="not conditional"):
        G.generate_grid(cache, root, "gan", tmp_path, num=4, class_index=1)
    with pytest.raises(PixelsmithError, match="number of images must be in 1..1024"):
        G.generate_grid(cache, root, "gan", tmp_path, num=0)
    with pytest.raises(PixelsmithError, match="inpainting model: it mends pictures"):
        G.generate_grid(cache, root, "group/inpaint", tmp_path, num=4)


def test_interpolate_walk_is_what_pixelsmith_interpolate_writes(root, cache, tmp_path):
    walk = G.interpolate_walk(cache, root, "gan", tmp_path, steps=5, rows=2, seed=1)
    _cli("interpolate", root / "gan", "--steps", 5, "--rows", 2, "--seed", 1,
         "-o", tmp_path / "cli.png", "--device", "cpu")
    grid = _pixels(walk.png)
    assert np.array_equal(grid, _pixels(tmp_path / "cli.png"))
    with Image.open(walk.gif) as gif:
        assert gif.n_frames == 2 * 5 - 2  # ping-pong
    assert len(walk.frames) == 5
    # frame i is column i of the grid (both: 2 px white padding around 16 px images)
    col = _pixels(walk.frames[3])
    assert col.shape == (2 * 18 + 2, 18 + 2, 3)
    assert np.array_equal(col[:, 2:], grid[:, 3 * 18 + 2 : 4 * 18 + 2])
    # two seeds: one walk from the first picture of `sample --seed 1` to that of --seed 6
    pair = G.interpolate_walk(cache, root, "gan", tmp_path, steps=4, seed=1, seed_b=6)
    _cli("sample", root / "gan", "--num", 1, "--seed", 6, "-o", tmp_path / "s6.png",
         "--device", "cpu")
    assert len(pair.frames) == 4  # one walk, whatever the walks slider says
    assert np.array_equal(_pixels(pair.frames[-1]), _pixels(tmp_path / "s6.png"))
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(PixelsmithError, match="GAN has no encoder"):
        G.interpolate_walk(cache, root, "gan", tmp_path, between=(tmp_path / "a.png",) * 2)


def test_interpolate_tab_offers_a_diffusion_model_its_sampler_settings(root, tmp_path):
    """The page's own callbacks: choosing a diffusion model shows its settings, and a walk
    with changed ones is what `pixelsmith interpolate` writes with the same options."""
    pytest.importorskip("gradio")
    from pixelsmith.ui.app import build_app

    app = build_app(root, work_dir=tmp_path, device="cpu")
    fns = {f.name: f for f in app.fns.values()}
    labels = [getattr(c, "label", None) for c in fns["walk"].inputs]
    assert labels[-5:] == ["sampler", "steps", "guidance (conditional)", "eta (ddim)",
                           "precision (bf16: ~2x faster where native)"]
    row, sampler, steps, guidance, eta, precision, status = fns["own"].fn("diffusion")
    assert row["visible"] and status == ""
    assert (sampler, steps, precision) == ("dpm-solver-2m", 3, "fp32")  # the run's own
    assert not fns["own"].fn("gan")[0]["visible"]  # a GAN has no such settings
    out = fns["walk"].fn("diffusion", "random ends (seed)", None, None, 3, 1, 2, 1, -1, 0,
                         "ddim", 2, guidance, eta, "bf16")
    assert out[-1] == "", out[-1]
    _cli("interpolate", root / "diffusion", "--steps", 3, "--rows", 1, "--seed", 2,
         "--sampler", "ddim", "--sample-steps", 2, "--precision", "bf16",
         "-o", tmp_path / "cli.png", "--device", "cpu")
    grid = next(p for p in out[4] if p.endswith(".png"))
    assert np.array_equal(_pixels(grid), _pixels(tmp_path / "cli.png"))
    _cli("interpolate", root / "diffusion", "--steps", 3, "--rows", 1, "--seed", 2,
         "-o", tmp_path / "own.png", "--device", "cpu")
    assert not np.array_equal(_pixels(grid), _pixels(tmp_path / "own.png"))  # settings used


def _noisy_gray(tmp_path, name="noisy.png"):
    rng = np.random.default_rng(0)
    clean = np.linspace(40, 210, 48)[None, :] * np.ones((40, 1))
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / name)
    return tmp_path / name, clean


def _psnr(a, b) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2)))


@pytest.mark.skipif(not HAS_DENOISER, reason="the packaged denoise-gray model is not installed")
def test_restore_upload_with_the_packaged_denoiser(root, cache, tmp_path):
    path, clean = _noisy_gray(tmp_path)
    ticks = []
    res = R.restore_upload(cache, root, path, tmp_path / "w", task="denoise", tile=32,
                           overlap=8, model="denoise-gray",
                           on_tile=lambda d, t: ticks.append((d, t)))
    after = np.asarray(Image.open(res.after))
    assert after.shape == (40, 48) and np.array_equal(np.asarray(Image.open(res.before)),
                                                      np.asarray(Image.open(path)))
    assert _psnr(after, clean) > _psnr(np.asarray(Image.open(path)), clean) + 5
    assert "denoise-gray" in res.message and "(estimated)" in res.message
    assert ticks == [(1, 4), (2, 4), (3, 4), (4, 4)]  # progress tile by tile
    # the same file `pixelsmith restore` writes with the same packaged model and tiles
    _cli("restore", path, "--model", "denoise-gray", "-o", tmp_path / "cli", "--device", "cpu",
         "--tile", 32, "--overlap", 8, "--precision", "fp32")  # the UI restores in fp32
    assert np.array_equal(after, np.asarray(Image.open(tmp_path / "cli" / "noisy.png")))
    # a colour picture through the gray model: each channel on its own, colour kept
    rgb = np.stack([np.asarray(Image.open(path))] * 2 + [np.full((40, 48), 9, np.uint8)], -1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    res = R.restore_upload(cache, root, tmp_path / "rgb.png", tmp_path / "w", task="denoise",
                           model="denoise-gray", sigma=25)
    assert "each colour channel" in res.message and "σ 25.0" in res.message
    assert np.asarray(Image.open(res.after)).shape == (40, 48, 3)
    # auto: the packaged model `pixelsmith restore` picks for a gray picture
    res = R.restore_upload(cache, root, path, tmp_path / "w", model=R.AUTO)
    assert res.message.startswith("denoise with denoise-gray,")


def test_restore_refuses_bad_uploads_and_wrong_models_in_one_line(root, cache, tmp_path):
    (tmp_path / "fake.png").write_text("not a picture")
    with pytest.raises(UnreadableImage, match="cannot read image .*fake.png"):
        R.restore_upload(cache, root, tmp_path / "fake.png", tmp_path / "w")
    path, _ = _noisy_gray(tmp_path)
    with pytest.raises(PixelsmithError, match="over the upload limit of 0.001 MB"):
        R.restore_upload(cache, root, path, tmp_path / "w", max_upload_bytes=1000)
    with pytest.raises(PixelsmithError, match="upload a picture first"):
        R.restore_upload(cache, root, None, tmp_path / "w")
    with pytest.raises(PixelsmithError, match="inpainting model; use the Inpaint tab"):
        R.restore_upload(cache, root, path, tmp_path / "w", model="run: group/inpaint")
    with pytest.raises(PixelsmithError, match="task must be one of denoise, sr, deblur"):
        R.restore_upload(cache, root, path, tmp_path / "w", task="colorize")
    assert read_upload(path, None).pixels.shape == (1, 40, 48)
    assert check_upload(str(path), 10**6) == path


def _layer(h, w, box):
    """An editor layer (RGBA) with the brush's magenta painted over ``box`` (y0, y1, x0, x1)."""
    layer = np.zeros((h, w, 4), np.uint8)
    y0, y1, x0, x1 = box
    layer[y0:y1, x0:x1] = (255, 0, 255, 255)
    return layer


def _inpaint_keeps_known(cache, root, tmp_path, size, box, run, seed):
    """Inpaint a random gray picture of ``size`` with the hole ``box`` (top, bottom, left,
    right) painted, by the run ``run``: the known pixels come back bit for bit."""
    h, w = size
    gray = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    res = R.inpaint_upload(cache, root, tmp_path / "gray.png", [_layer(h, w, box)],
                           tmp_path / "w", method=R.OURS, model=f"run: {run}")
    out = np.asarray(Image.open(res.result))
    keep = np.ones_like(gray, bool)
    keep[box[0]:box[1], box[2]:box[3]] = False
    assert np.array_equal(out[keep], gray[keep])  # known pixels come back bit for bit
    return res


def test_inpaint_upload_with_baselines_and_a_trained_inpainter(root, cache, tmp_path):
    flat = np.full((20, 24, 3), (200, 120, 40), np.uint8)
    flat[:, :4] = 0  # a dark strip far from the hole
    Image.fromarray(flat).save(tmp_path / "pic.png")
    layers = [_layer(20, 24, (6, 12, 10, 18)), None]
    for method in ("telea", "navier-stokes"):
        res = R.inpaint_upload(cache, root, tmp_path / "pic.png", layers, tmp_path / "w",
                               method=method)
        out = np.asarray(Image.open(res.result)).astype(int)
        hole = np.zeros((20, 24), bool)
        hole[6:12, 10:18] = True
        assert np.array_equal(out[~hole], flat[~hole])  # known pixels untouched
        # the hole lies in a flat patch: filled with its colour (OpenCV rounds: within 3)
        assert np.abs(out[hole] - (200, 120, 40)).max() <= 3
        masked = np.asarray(Image.open(res.masked))
        assert (masked[6:12, 10:18] == 128).all() and np.array_equal(masked[:6], flat[:6])
        assert "filled 48 pixels" in res.message
    # a layer of another size (an editor canvas) is fitted to the picture
    known = R.mask_from_layers([_layer(40, 48, (12, 24, 20, 36))], 20, 24)
    assert known.shape == (1, 1, 20, 24) and int((known == 0).sum()) == 48
    res = _inpaint_keeps_known(cache, root, tmp_path, (16, 20), (4, 9, 5, 12), "group/inpaint",
                               seed=2)
    assert "group/inpaint" in res.message
    with pytest.raises(PixelsmithError, match="paint the hole on the picture first"):
        R.inpaint_upload(cache, root, tmp_path / "gray.png", [], tmp_path / "w")
    with pytest.raises(PixelsmithError, match="is colour .* but the model fills gray"):
        R.inpaint_upload(cache, root, tmp_path / "pic.png", layers, tmp_path / "w",
                         method=R.OURS, model="run: group/inpaint")
    pic = R.editor_picture(tmp_path / "pic.png", tmp_path / "w")
    assert np.array_equal(_pixels(pic), flat)


def test_missing_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # what an install without the extra has
    with pytest.raises(PixelsmithError) as e:
        require_gradio()
    assert str(e.value) == MISSING
    from pixelsmith.cli import app

    res = CliRunner().invoke(app, ["ui", "--runs", "."])
    assert isinstance(res.exception, PixelsmithError) and str(res.exception) == MISSING


def test_busy_port_is_one_line():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        with pytest.raises(PixelsmithError, match=f"--port {busy} on 127.0.0.1 is in use"):
            free_port("127.0.0.1", busy)
    assert free_port("127.0.0.1", 0) > 0


def test_app_builds_and_a_failing_callback_answers_in_the_page(root, tmp_path):
    pytest.importorskip("gradio")
    from pixelsmith.ui.app import _guard, build_app

    app = build_app(root, work_dir=tmp_path, device="cpu")
    assert {"Runs", "Generate", "Interpolate", "Restore", "Inpaint"} <= {
        b.label for b in app.blocks.values() if type(b).__name__ == "Tab"}

    def broken(x):
        torch.zeros(2) @ torch.zeros(3)  # any exception, not only ours

    out = _guard(broken, 2)(1)
    assert len(out) == 3 and out[2].startswith("⚠️ error: ")
    out = _guard(lambda p: read_upload(p, None), 1)(str(tmp_path / "missing.png"))
    assert out[1] == "⚠️ the upload missing.png is gone; upload it again"
    with pytest.raises(PixelsmithError, match="--runs .* is not a folder"):
        build_app(tmp_path / "nope")


@pytest.mark.parametrize("args, message", [
    (["--runs", "{tmp}/nope"], "--runs .*nope is not a folder"),
    (["--runs", "{tmp}", "--port", "70000"], "--port must be in 0..65535, got 70000"),
    (["--runs", "{tmp}", "--max-upload-mb", "0"], "--max-upload-mb must be > 0"),
])
def test_ui_command_refuses_bad_options_in_one_line(tmp_path, args, message):
    pytest.importorskip("gradio")
    from pixelsmith.cli import app

    res = CliRunner().invoke(app, ["ui", *(a.format(tmp=tmp_path) for a in args)])
    assert isinstance(res.exception, PixelsmithError)
    assert re.search(message, str(res.exception)) and "\n" not in str(res.exception)


def test_packaged_generator_draws_what_sample_model_writes(root, cache, tmp_path):
    generators = [c.name for c in list_models() if c.task == "generate"]
    if not generators:
        pytest.skip("no packaged generator in this install")
    name = generators[0]
    info = G.model_info(cache, root, name)
    assert info.summary and info.step > 0
    got = G.generate_grid(cache, root, name, tmp_path, num=6, seed=2)
    _cli("sample", "--model", name, "--num", 6, "--seed", 2, "-o", tmp_path / "cli.png",
         "--device", "cpu")
    assert np.array_equal(_pixels(got), _pixels(tmp_path / "cli.png"))
    walk = G.interpolate_walk(cache, root, name, tmp_path, steps=3, rows=1, seed=1)
    assert len(walk.frames) == 3 and walk.gif.is_file()
    # "run: gan" and the plain run name are the same run; a restorer is no generator
    same = G.generate_grid(cache, root, "run: gan", tmp_path, num=2, seed=0)
    plain = G.generate_grid(cache, root, "gan", tmp_path, num=2, seed=0)
    assert np.array_equal(_pixels(same), _pixels(plain))
    restorers = [c.name for c in list_models() if c.task != "generate"]
    if restorers:
        with pytest.raises(PixelsmithError, match="mends pictures"):
            G.generate_grid(cache, root, restorers[0], tmp_path, num=2)


def test_diffusion_sampler_settings_and_repaint(root, cache, tmp_path):
    info = G.model_info(cache, root, "diffusion")
    assert info.sampling["sample_steps"] == 3 and info.truncation is None
    over = G.sampling_overrides(sampler="ddim", steps=2)
    got = G.generate_grid(cache, root, "diffusion", tmp_path, num=4, seed=1, overrides=over)
    _cli("sample", root / "diffusion", "--num", 4, "--seed", 1, "-o", tmp_path / "cli.png",
         "--device", "cpu", "--sampler", "ddim", "--steps", 2)
    assert np.array_equal(_pixels(got), _pixels(tmp_path / "cli.png"))
    assert info.sampling["sample_precision"] == "fp32"  # the run's own, shown in the picker
    over = G.sampling_overrides(sampler="ddim", steps=2, precision="bf16")
    fast = G.generate_grid(cache, root, "diffusion", tmp_path, num=4, seed=1, overrides=over)
    _cli("sample", root / "diffusion", "--num", 4, "--seed", 1, "-o", tmp_path / "bf16.png",
         "--device", "cpu", "--sampler", "ddim", "--steps", 2, "--precision", "bf16")
    assert np.array_equal(_pixels(fast), _pixels(tmp_path / "bf16.png"))
    res = _inpaint_keeps_known(cache, root, tmp_path, (8, 8), (2, 5, 2, 6), "diffusion", seed=3)
    assert "diffusion" in res.message
