"""Sampling per class, interpolation and export, through the library and the real CLI."""

import hashlib
import json

import pytest
import torch
from PIL import Image

from helpers import tiny_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import class_labels, generate, load_model
from pixelsmith.generate.export import export
from pixelsmith.generate.interpolate import interpolate
from pixelsmith.training import Trainer

COND = ["model.name=resnet", "model.g_width=8", "model.d_width=8", "model.g_cond=cbn",
        "model.d_cond=projection", "objective.loss=hinge", "train.steps=1",
        "train.ema_decay=0.9"]


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("gan") / "run"
    Trainer(tiny_config(*COND), run).fit()
    return run


def test_class_option_gives_that_class_reproducibly(cond_run):
    model = load_model(cond_run)
    labels = class_labels(model, 3, 7)
    assert labels.tolist() == [7, 7, 7]
    a = generate(model, 3, seed=4, labels=labels)
    assert a.shape == (3, 1, 16, 16) and torch.equal(a, generate(model, 3, seed=4, labels=labels))
    with pytest.raises(PixelsmithError, match="--class must be in 0..9"):
        class_labels(model, 1, 12)


def test_interpolation_ends_are_the_sampled_inputs(cond_run):
    model = load_model(cond_run)
    frames = interpolate(model, 5, rows=2, seed=3)
    assert frames.shape == (2, 5, 1, 16, 16)
    gen = torch.Generator().manual_seed(3)
    labels = torch.randint(10, (2,), generator=gen).repeat(2)
    inputs = model.objective.sample_inputs(4, gen, labels)
    ends = model.objective.sample(model.net, inputs)
    assert torch.allclose(frames[:, 0], ends[:2], atol=1e-5)
    assert torch.allclose(frames[:, -1], ends[2:], atol=1e-5)


def test_walk_between_two_seeds_starts_and_ends_at_their_samples(cond_run):
    model = load_model(cond_run)
    labels = class_labels(model, 1, 4)
    frames = interpolate(model, 5, seeds=(3, 8), class_index=4)
    assert frames.shape == (1, 5, 1, 16, 16)
    assert torch.allclose(frames[0, 0], generate(model, 1, seed=3, labels=labels)[0], atol=1e-5)
    assert torch.allclose(frames[0, -1], generate(model, 1, seed=8, labels=labels)[0], atol=1e-5)
    # without --class the walk keeps seed 3's class at both ends
    free = interpolate(model, 3, seeds=(3, 8))
    own = generate(model, 1, seed=3)[0]
    assert torch.allclose(free[0, 0], own, atol=1e-5)
    gen = torch.Generator().manual_seed(3)
    c = model.objective.sample_inputs(1, gen)["c"]
    assert torch.allclose(free[0, -1], generate(model, 1, seed=8, labels=c)[0], atol=1e-5)
    with pytest.raises(PixelsmithError, match="not both"):
        interpolate(model, 3, seeds=(1, 2), between=("a.png", "b.png"))


def test_between_images_is_a_clear_error_for_gans(cond_run, tmp_path):
    model = load_model(cond_run)
    for name in "ab":
        Image.new("L", (20, 20), 128).save(tmp_path / f"{name}.png")
    with pytest.raises(PixelsmithError, match="a GAN has no encoder"):
        interpolate(model, 4, between=(tmp_path / "a.png", tmp_path / "b.png"))


def test_export_library_balances_classes_and_refuses_a_full_folder(cond_run, tmp_path):
    model = load_model(cond_run)
    manifest = export(model, 23, tmp_path / "set", seed=1, batch_size=8, workers=2)
    assert sum(manifest["classes"].values()) == 23
    assert sorted(manifest["classes"].values()) == [2] * 7 + [3] * 3
    with pytest.raises(PixelsmithError, match="is not empty"):
        export(model, 1, tmp_path / "set")


def test_cli_per_class_grid_interpolate_and_export(cond_run, tmp_path, cli):
    cli("sample", cond_run, "--per-class", "--num", 3, "--out", tmp_path / "grid.png")
    # 10 rows (classes) of 3 tiles of 16 px with 2 px padding
    assert Image.open(tmp_path / "grid.png").size == (3 * 18 + 2, 10 * 18 + 2)

    cli("interpolate", cond_run, "--steps", 6, "--rows", 2, "--out", tmp_path / "interp.png")
    assert Image.open(tmp_path / "interp.png").size == (6 * 18 + 2, 2 * 18 + 2)
    gif = Image.open(tmp_path / "interp.gif")
    assert gif.n_frames == 10  # 6 forward + 4 back (ping-pong)
    cli("interpolate", cond_run, "--steps", 4, "--seeds", 3, 8, "--class", 4,
        "--out", tmp_path / "seeds.png")
    assert Image.open(tmp_path / "seeds.png").size == (4 * 18 + 2, 18 + 2)  # one walk

    out = tmp_path / "synthetic"
    bad = cli("export", cond_run, "--num", 2, "--out", out, "--sampler", "ddim", ok=False)
    assert bad.returncode == 2 and "--sampler applies to diffusion models" in bad.stderr
    assert not out.exists()  # refused before anything was written
    cli("export", cond_run, "--num", 25, "--out", out, "--batch-size", 8, "--seed", 2)
    files = sorted(out.glob("*/*.png"))
    assert len(files) == 25 and len({f.parent for f in files}) == 10
    for f in files:
        with Image.open(f) as img:
            assert img.size == (16, 16) and img.mode == "L"
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(out))
    assert len(ds) == 25 and len(ds.classes) == 10
    assert ds.classes[0].startswith("0_")  # index-prefixed: alphabetical = class order
    manifest = json.loads((out / "manifest.json").read_text())
    ckpt = load_model(cond_run).path
    want = hashlib.sha256((ckpt / "model.safetensors").read_bytes()).hexdigest()
    assert manifest["sha256"]["model.safetensors"] == want and manifest["seed"] == 2
    assert manifest["used_ema"] and "ema.safetensors" in manifest["sha256"]
    assert manifest["config"]["model"]["g_cond"] == "cbn"
    assert manifest["sampling"] == {"truncation": 0.0} and "packaged_model" not in manifest


def test_bad_option_value_is_a_usage_error_not_a_traceback(tmp_path, cli):
    proc = cli("interpolate", tmp_path / "run", "--steps", "many", ok=False)
    assert proc.returncode == 2 and "Invalid value for '--steps'" in proc.stderr
    assert "Traceback" not in proc.stderr
