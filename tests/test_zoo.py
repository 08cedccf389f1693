"""Packaged models: each one that ships loads, matches its manifest's hash and scores, and
restores real files through `pixelsmith restore` without --checkpoint; the packaging
pipeline (run -> float16 weights + manifest -> the one loader) on a tiny run; the noise
level estimator and the per-channel colour fallback."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.config import load_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.hashing import sha256_file
from pixelsmith.metrics.restoration_protocol import load_test_set
from pixelsmith.restore import load_restorer
from pixelsmith.restore.noise_level import estimate_sigma
from pixelsmith.training import Trainer
from pixelsmith.zoo import find_card, list_models, load_pretrained, pick_model
from pixelsmith.zoo.check import check_scores, generator_check_values
from pixelsmith.zoo.package import data_sha256, package_run, write_manifest

PACKAGED = list_models()
TINY = ["data.name=digits", "data.img_size=16", "data.max_images=32", "data.patch_size=16",
        "data.img_channels=1", "model.name=unet-restorer", "model.width=4", "model.levels=2",
        "model.blocks=1", "model.attention=false", "model.noise_level_input=true",
        "objective.degradation={name: gaussian-noise, sigma_min: 0, sigma_max: 55}",
        "train.steps=2", "train.batch_size=4", "train.num_samples=2", "train.progress=false",
        "train.ema_decay=0.9"]


def test_a_blind_gray_denoiser_ships():
    cards = {(c.task, c.channels) for c in PACKAGED}
    assert ("denoise", 1) in cards, [c.name for c in PACKAGED]


@pytest.mark.parametrize("card", PACKAGED, ids=lambda c: c.name)
def test_packaged_model_matches_its_manifest(card, shared_data):
    m = card.manifest
    assert sha256_file(card.weights_path) == m["sha256"]
    assert m["training"]["command"].startswith("pixelsmith train configs/")
    assert m["training"]["data_sha256"] == data_sha256(m["training"]["data"])
    r = load_pretrained(card.name, device="cpu")
    assert sum(p.numel() for p in r.net.parameters()) == m["parameters"]
    if m["task"] == "generate":  # seeded samples' mean pixels, as packaged (0-255 scale)
        got = generator_check_values(r, m["check"])
        assert np.allclose(got, m["check"]["means"], atol=0.1), (got, m["check"]["means"])
        return
    if m["task"] == "inpaint":  # the generator of an inpainting run
        assert (r.cfg.objective.name, r.net.img_channels) == ("inpainting", m["channels"])
    else:
        assert (r.task, r.img_channels, r.scale) == (m["task"], m["channels"], m["scale"])
    # the weights still score what the manifest says, image by image (0.05 dB)
    got = check_scores(r, m["check"], shared_data)
    assert len(got) == m["check"]["images"] >= 2
    assert np.allclose(got, m["check"]["psnr"], atol=0.05), (got, m["check"]["psnr"])


@pytest.mark.skipif(not any(c.task == "denoise" for c in PACKAGED), reason="no denoiser")
def test_restore_without_checkpoint_gray_rgb_jpeg_rgba(tmp_path, cli):
    rng = np.random.default_rng(0)
    smooth = np.linspace(40, 210, 48)[None, :] * np.ones((40, 1))
    src = tmp_path / "in"
    src.mkdir()
    gray = np.clip(smooth + rng.normal(0, 25, smooth.shape), 0, 255).astype(np.uint8)
    Image.fromarray(gray).save(src / "gray.png")
    rgb = np.clip(smooth[..., None] * [1, 0.8, 0.5] + rng.normal(0, 20, (40, 48, 3)), 0, 255)
    Image.fromarray(rgb.astype(np.uint8)).save(src / "photo.jpg", quality=98)
    rgba = np.concatenate([rgb.astype(np.uint8), np.full((40, 48, 1), 200, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(src / "icon.png")
    out = tmp_path / "out"
    res = cli("restore", src, "--out", out, "--task", "denoise", env={"OMP_NUM_THREADS": "1"})
    assert "packaged" in res.stdout and "estimated" in res.stderr
    g = np.array(Image.open(out / "gray.png")).astype(float)
    assert Image.open(out / "gray.png").mode == "L" and g.shape == (40, 48)
    # the noise is gone: much closer to the clean ramp than the input was
    assert np.abs(g - smooth).mean() < 0.5 * np.abs(gray - smooth).mean()
    assert Image.open(out / "photo.png").mode == "RGB"
    icon = Image.open(out / "icon.png")
    assert icon.mode == "RGBA" and np.all(np.array(icon)[..., 3] == 200)


@pytest.mark.parametrize("scale", [2, 4])
def test_restore_sr_without_checkpoint_gray_rgb_jpeg_rgba(scale, tmp_path, cli):
    # a sharp-edged picture, enlarged by the packaged model: scale times the size, the
    # file's own mode and alpha kept, and closer to the sharp original than bicubic is
    if not any(c.task == "sr" and c.scale == scale for c in PACKAGED):
        pytest.skip(f"no x{scale} super-resolver packaged")
    yy, xx = np.mgrid[0:64, 0:72]
    sharp = np.where((xx // 9 + yy // 7) % 2 == 0, 60.0, 200.0)  # (64, 72)
    h, w = 64 // scale, 72 // scale
    small = np.array(Image.fromarray(sharp.astype(np.uint8)).resize((w, h), Image.BICUBIC))
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(small).save(src / "gray.png")
    rgb = np.stack([small, small * 0.8, small * 0.5], -1).astype(np.uint8)
    Image.fromarray(rgb).save(src / "photo.jpg", quality=98)
    rgba = np.concatenate([rgb, np.full((h, w, 1), 200, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(src / "icon.png")
    out = tmp_path / "out"
    res = cli("restore", src, "--out", out, "--task", "sr", "--scale", scale,
              env={"OMP_NUM_THREADS": "1"})
    assert "packaged" in res.stdout
    g = np.array(Image.open(out / "gray.png")).astype(float)
    assert Image.open(out / "gray.png").mode == "L" and g.shape == (64, 72)
    bicubic = np.array(Image.fromarray(small).resize((72, 64), Image.BICUBIC)).astype(float)
    inner = (slice(4, -4), slice(4, -4))  # borders: both guess
    assert np.abs(g - sharp)[inner].mean() < np.abs(bicubic - sharp)[inner].mean()
    photo = Image.open(out / "photo.png")
    assert photo.mode == "RGB" and photo.size == (72, 64)
    icon = Image.open(out / "icon.png")
    assert icon.mode == "RGBA" and icon.size == (72, 64)
    assert np.all(np.array(icon)[..., 3] == 200)


@pytest.mark.skipif(not any(c.task == "inpaint" for c in PACKAGED),
                    reason="no inpainter packaged")
def test_restore_inpaint_without_checkpoint_gray_rgb_jpeg_rgba(tmp_path, cli):
    # one mask for three pictures of one size: known pixels come back exactly, the hole is
    # filled closer to the truth than mid-gray, each file keeps its mode and transparency
    yy, xx = np.mgrid[0:48, 0:64]
    smooth = 128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 11.0)  # (48, 64)
    hole = np.zeros((48, 64), bool)
    hole[18:28, 20:34] = True
    Image.fromarray(np.where(hole, 255, 0).astype(np.uint8)).save(tmp_path / "mask.png")
    src = tmp_path / "in"
    src.mkdir()
    gray = smooth.astype(np.uint8)
    Image.fromarray(gray).save(src / "gray.png")
    rgb = np.stack([smooth, smooth * 0.8, 255 - smooth], -1).astype(np.uint8)
    Image.fromarray(rgb).save(src / "photo.jpg", quality=98)
    rgba = np.concatenate([rgb, np.full((48, 64, 1), 200, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(src / "icon.png")
    out = tmp_path / "out"
    res = cli("restore", src, "--out", out, "--task", "inpaint", "--mask", tmp_path / "mask.png",
              env={"OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    g = np.array(Image.open(out / "gray.png"))
    assert Image.open(out / "gray.png").mode == "L" and np.array_equal(g[~hole], gray[~hole])
    assert np.abs(g[hole] - smooth[hole]).mean() < 0.5 * np.abs(128 - smooth[hole]).mean()
    photo = np.array(Image.open(out / "photo.png"))
    jpg = np.array(Image.open(src / "photo.jpg"))
    assert photo.shape == (48, 64, 3) and np.array_equal(photo[~hole], jpg[~hole])
    icon = np.array(Image.open(out / "icon.png"))
    assert icon.shape == (48, 64, 4) and np.all(icon[..., 3] == 200)
    assert np.array_equal(icon[..., :3][~hole], rgb[~hole])


def test_restore_cli_refuses_unclear_choices(tmp_path, cli):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    for args, says in [(["--model", "no-such-model"], "no packaged model named"),
                       (["--task", "sr"], "needs --scale"),
                       (["--scale", "2"], "--scale is for --task sr"),
                       (["--checkpoint", tmp_path, "--model", "x"], "give one")]:
        res = cli("restore", tmp_path / "a.png", "--out", tmp_path / "o", *args, ok=False)
        assert res.returncode == 2 and says in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr


@pytest.fixture(scope="module")
def tiny_package(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    Trainer(load_config(None, TINY), root / "run").fit()
    models = root / "models"
    manifest = package_run(root / "run", models / "tiny-denoise", task="denoise", channels=1,
                           scale=1, summary="tiny", command="pixelsmith train x",
                           package_command="python bench/zoo_package.py", config_file="x",
                           default=True)
    return root, models, manifest


def test_packaged_run_restores_like_the_run(tiny_package):
    root, models, manifest = tiny_package
    card = find_card("tiny-denoise", models)
    assert card.manifest["dtype"] == "float16" and card.manifest["training"]["steps"] == 2
    packaged = load_pretrained("tiny-denoise", device="cpu", models_dir=models)
    run = load_restorer(root / "run", device="cpu")  # EMA weights, float32
    y = torch.rand(2, 1, 20, 28, generator=torch.Generator().manual_seed(0))
    a, b = packaged(y, sigma=25), run(y, sigma=25)
    assert a.shape == (2, 1, 20, 28)
    assert (a - b).abs().max() < 2e-2  # only the float16 rounding of the weights differs
    # the weights file is the EMA network's, not the raw one
    from safetensors.torch import load_file
    stored = load_file(str(card.weights_path))
    ema = load_file(str(root / "run/checkpoints" / json.loads(
        (root / "run/checkpoints/last.json").read_text())["dir"] / "ema.safetensors"))
    key = next(iter(stored))
    assert torch.equal(stored[key], ema[key].half())


def test_packaged_inpainter_ships_its_generator_alone(tmp_path):
    """An inpainting run packages the EMA generator only; the one loader rebuilds the
    model without the discriminator's weights and fills like the run."""
    from pixelsmith.restore import inpaint, load_inpainter

    Trainer(load_config(None, [
        "data.name=digits", "data.img_size=16", "data.max_images=32", "data.img_channels=3",
        "model.name=inpaint-unet", "model.g_width=4", "model.d_width=4", "model.max_width=8",
        "model.levels=2", "train.steps=2", "train.batch_size=4", "train.num_samples=2",
        "train.progress=false", "train.ema_decay=0.9"]), tmp_path / "run").fit()
    manifest = package_run(tmp_path / "run", tmp_path / "models" / "tiny-inpaint",
                           task="inpaint", channels=3, scale=1, summary="tiny",
                           command="pixelsmith train x", package_command="python x",
                           config_file="x", default=True)
    from safetensors.torch import load_file
    stored = load_file(str(tmp_path / "models" / "tiny-inpaint" / "weights.safetensors"))
    assert stored and all(k.startswith("generator.") for k in stored)
    packaged = load_pretrained("tiny-inpaint", device="cpu", models_dir=tmp_path / "models")
    assert sum(p.numel() for p in packaged.net.parameters()) == manifest["parameters"]
    run = load_inpainter(tmp_path / "run", device="cpu")
    y = torch.rand(2, 3, 20, 28, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 1, 20, 28)
    mask[..., 5:12, 6:20] = 0
    a, b = inpaint(packaged, y, mask), inpaint(run, y, mask)
    assert torch.equal(a[mask.expand_as(a) == 1], y[mask.expand_as(y) == 1])
    assert (a - b).abs().max() < 2e-2  # only the float16 rounding of the weights differs


TINY_GAN = ["data.name=digits", "data.img_size=16", "data.max_images=32", "model.z_dim=4",
            "model.g_width=4", "model.d_width=4", "train.batch_size=8"]
TINY_COND_DIFFUSION = ["model.name=unet-denoiser", "model.width=8", "model.max_width=8",
                       "model.levels=2", "model.blocks=1", "model.conditional=true",
                       "data.name=digits", "data.img_size=8", "data.max_images=32",
                       "train.batch_size=8", "objective.sample_steps=3",
                       "objective.sample_precision=bf16"]  # packaged as fp32 all the same


@pytest.mark.parametrize("config,network", [(TINY_GAN, "generator"),
                                            (TINY_COND_DIFFUSION, "denoiser")],
                         ids=["gan", "conditional-diffusion"])
def test_packaged_generator_samples_like_the_run(config, network, tmp_path, cli):
    """A generator packages its sampling network (EMA) and its class count; the packaged
    model draws what the run draws for the same seed and labels."""
    from safetensors.torch import load_file

    from pixelsmith.generate import generate, load_model

    Trainer(load_config(None, [*config, "train.steps=2", "train.num_samples=2",
                               "train.progress=false", "train.ema_decay=0.9",
                               "train.sample_every=0"]), tmp_path / "run").fit()
    models = tmp_path / "models"
    manifest = package_run(tmp_path / "run", models / "tiny-gen", task="generate",
                           channels=1, scale=1, summary="tiny", command="pixelsmith train x",
                           package_command="python x", config_file="x", default=True)
    stored = load_file(str(models / "tiny-gen" / "weights.safetensors"))
    assert stored and all(k.startswith(f"{network}.") for k in stored)
    assert manifest["num_classes"] == 10  # the data set's, as in the run's meta
    packaged = load_pretrained("tiny-gen", device="cpu", models_dir=models)
    fp32 = []
    if network == "denoiser":  # check values must not depend on the machine's bf16
        assert manifest["config"]["objective"]["sample_precision"] == "fp32"
        assert not packaged.objective.sample_bf16()
        fp32 = ["objective.sample_precision=fp32"]
    run = load_model(tmp_path / "run", device="cpu", overrides=fp32)  # EMA weights, float32
    labels = torch.tensor([0, 3, 7, 9]) if "model.conditional=true" in config else None
    a = generate(packaged, 4, seed=5, labels=labels)
    b = generate(run, 4, seed=5, labels=labels)
    assert a.shape == b.shape and (a - b).abs().max() < 2e-2  # float16 weights only
    # the zoo check: packaged and run agree; other weights draw other means
    spec = {"images": 4, "seed": 0}
    means = generator_check_values(packaged, spec)
    assert len(means) == 4 and np.allclose(means, generator_check_values(run, spec), atol=0.5)
    with torch.no_grad():
        for p in packaged.net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert np.abs(np.subtract(generator_check_values(packaged, spec), means)).max() > 1


def test_sample_interpolate_and_export_name_a_packaged_generator_or_a_run(tmp_path, cli):
    out = tmp_path / "g.png"
    for cmd in ("sample", "interpolate", "export"):
        for args, says in [([], "give a run folder or --model NAME"),
                           ([tmp_path, "--model", "x"], "not both"),
                           (["--model", "no-such"], "no packaged model named 'no-such'")]:
            res = cli(cmd, *args, "--out", out, ok=False)
            assert res.returncode == 2 and says in res.stderr, (cmd, args, res.stderr)
            assert "Traceback" not in res.stderr
    restorers = [c.name for c in PACKAGED if c.task != "generate"]
    for cmd in ("sample", "export") if restorers else ():  # a restorer is not a generator
        res = cli(cmd, "--model", restorers[0], "--out", out, ok=False)
        assert res.returncode == 2 and "not an image generator" in res.stderr, cmd


@pytest.mark.skipif(not any(c.name == "dcgan-fashion-mnist" for c in PACKAGED),
                    reason="the packaged dcgan-fashion-mnist is not installed")
def test_export_from_a_packaged_generator_names_it_and_its_weights(tmp_path, cli):
    import hashlib

    from pixelsmith.data.transforms import to_uint8
    from pixelsmith.generate import generate, load_model
    from pixelsmith.zoo.loading import card_checkpoint

    card = next(c for c in PACKAGED if c.name == "dcgan-fashion-mnist")
    out = tmp_path / "set"
    cli("export", "--model", card.name, "--num", 5, "--out", out, "--seed", 3,
        "--truncation", 0.7, "--device", "cpu")
    manifest = json.loads((out / "manifest.json").read_text())
    weights = card.weights_path
    assert manifest["packaged_model"] == card.name
    assert manifest["sha256"] == {weights.name: hashlib.sha256(weights.read_bytes()).hexdigest()}
    assert manifest["sampling"] == {"truncation": 0.7} and manifest["truncation"] == 0.7
    assert "used_ema" not in manifest  # the weights as shipped, whichever copy they were
    from pixelsmith.metrics.evaluate import evaluate
    with pytest.raises(PixelsmithError, match="'dcgan-fashion-mnist' has no run folder"):
        evaluate(card_checkpoint(card), ["fid"], device="cpu")  # never into the package
    model = load_model(card_checkpoint(card), device="cpu",
                       overrides=["objective.truncation=0.7"])
    want = to_uint8(generate(model, 5, seed=3)).numpy()
    files = sorted(out.glob("samples/*.png"))
    got = np.stack([np.asarray(Image.open(f))[None] for f in files])
    assert got.shape == want.shape and np.abs(got.astype(int) - want).max() <= 1


def test_damaged_weights_and_manifest_are_refused(tiny_package, tmp_path):
    import shutil

    _, models, manifest = tiny_package
    bad = tmp_path / "models"
    shutil.copytree(models, bad)
    w = bad / "tiny-denoise" / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(PixelsmithError, match="SHA-256 differs"):
        load_pretrained("tiny-denoise", models_dir=bad)
    write_manifest(bad / "tiny-denoise", {**manifest, "channels": "one"})
    with pytest.raises(PixelsmithError, match="'channels' must be a int"):
        load_pretrained("tiny-denoise", models_dir=bad)


def test_pick_model_by_task_channels_and_scale(tiny_package):
    _, models, _ = tiny_package
    assert pick_model("denoise", 1, models_dir=models).name == "tiny-denoise"
    assert pick_model("denoise", 3, models_dir=models).name == "tiny-denoise"  # per channel
    with pytest.raises(PixelsmithError, match="no packaged gray model for --task sr x4"):
        pick_model("sr", 1, 4, models_dir=models)


def test_per_channel_denoiser_equals_the_gray_one_on_each_channel(tiny_package):
    _, models, _ = tiny_package
    gray = load_pretrained("tiny-denoise", device="cpu", models_dir=models)
    colour = gray.per_channel()
    y = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(1))
    out = colour(y, sigma=30)
    for c in range(3):
        assert torch.allclose(out[:, c:c + 1], gray(y[:, c:c + 1], sigma=30), atol=1e-6)


def test_noise_level_estimate(shared_data):
    image = load_test_set("Set12", shared_data)[0].image[None].float() / 255
    g = torch.Generator().manual_seed(0)
    for sigma in (10, 25, 50):
        y = image + sigma / 255 * torch.randn(image.shape, generator=g)
        assert abs(estimate_sigma(y).item() - sigma) < 0.1 * sigma + 1
    # a flat picture: the estimate is the noise's standard deviation itself
    flat = 0.5 + 20 / 255 * torch.randn(2, 3, 64, 64, generator=g)
    assert torch.allclose(estimate_sigma(flat), torch.tensor([20.0, 20.0]), rtol=0.05)
