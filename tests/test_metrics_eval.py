"""Feature extractors, the evaluator, and ``pixelsmith evaluate`` on a tiny trained run."""

import json

import pytest
import torch

from helpers import TINY
from pixelsmith.config import DataConfig
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.evaluator import (
    RECIPES,
    EvaluatorFeatures,
    _augment,
    fit_classifier,
    load_evaluator,
    train_evaluator,
)
from pixelsmith.metrics.features import (
    INCEPTION_ENV,
    INCEPTION_FILE,
    INCEPTION_SHA256,
    InceptionFeatures,
    find_inception_weights,
)


def test_missing_inception_file_says_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    with pytest.raises(PixelsmithError) as e:
        InceptionFeatures(tmp_path / "nope.pth")
    msg = str(e.value)
    assert "\n" not in msg
    assert INCEPTION_FILE in msg and "nope.pth" in msg and INCEPTION_ENV in msg
    assert str(tmp_path / "hub" / "hub" / "checkpoints" / INCEPTION_FILE) in msg


def test_inception_file_with_wrong_hash_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / INCEPTION_FILE
    fake.write_bytes(b"not the weights")
    monkeypatch.setenv(INCEPTION_ENV, str(fake))
    with pytest.raises(PixelsmithError, match="SHA-256 .* does not match"):
        find_inception_weights()
    assert find_inception_weights(check_hash=False) == fake  # found through the variable


def test_inception_check_compares_the_whole_digest_not_the_name_prefix(tmp_path, monkeypatch):
    # a file whose digest only shares torch hub's 8-digit prefix is still refused; the
    # digest function is swapped because no such file can be made in a test
    import pixelsmith.metrics.features as features

    fake = tmp_path / INCEPTION_FILE
    fake.write_bytes(b"x")
    monkeypatch.setenv(INCEPTION_ENV, str(fake))
    monkeypatch.setattr(features, "sha256_file", lambda p: INCEPTION_SHA256[:8] + "0" * 56)
    with pytest.raises(PixelsmithError, match="does not match"):
        find_inception_weights()
    monkeypatch.setattr(features, "sha256_file", lambda p: INCEPTION_SHA256)
    assert find_inception_weights() == fake


@pytest.fixture(scope="module")
def tiny_evaluator(_session_cache):
    out = _session_cache / "evaluators" / "digits-16-1"  # where metrics look for it
    cfg = DataConfig(name="digits", img_size=16)
    info = train_evaluator(cfg, max_steps=3, batch_size=64, width=4, out=out, log=lambda s: None)
    return out, info


def test_evaluator_trains_saves_and_loads(tiny_evaluator):
    out, info = tiny_evaluator
    assert (out / "evaluator.safetensors").is_file()
    saved = json.loads((out / "evaluator.json").read_text())
    assert saved == info
    assert info["dataset"] == "digits" and info["img_size"] == 16 and info["img_channels"] == 1
    assert info["num_held_out"] == 297 and info["held_out"] == "test split"
    assert 0.0 <= info["held_out_accuracy"] <= 1.0 and len(info["train_data_sha256"]) == 64
    ev = load_evaluator(DataConfig(name="digits", img_size=16), out)
    assert ev.name == "digits-evaluator" and ev.num_classes == 10
    images = torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8)
    feats, probs = ev(images)
    assert feats.shape == (5, 256) and probs.shape == (5, 10)
    assert torch.allclose(probs.sum(1), torch.ones(5), atol=1e-5)
    with pytest.raises(PixelsmithError, match="evaluator is for 16px/1ch"):
        load_evaluator(DataConfig(name="digits", img_size=32), out)
    assert isinstance(ev, EvaluatorFeatures)


def _crops_matching(aug, src, pad, flips):
    """(dy, dx, flip) of every crop of reflect-padded ``src`` that equals ``aug``."""
    size = src.shape[-1]
    padded = torch.nn.functional.pad(src[None], (pad,) * 4, mode="reflect")[0]
    return [(dy, dx, f) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for f in flips
            if torch.equal(aug, (lambda c: c.flip(2) if f else c)(
                padded[:, dy : dy + size, dx : dx + size]))]


def test_augment_shifts_and_flips_each_image_on_its_own():
    # every output image must be a crop of its own reflect-padded input (pad = side // 8,
    # at least 2), mirrored or not; found by brute force over all shifts and both flips
    g = torch.Generator().manual_seed(3)
    x = torch.rand(24, 3, 32, 32)
    out = _augment(x, True, g)
    seen = set()
    for i in range(len(x)):
        hits = _crops_matching(out[i], x[i], 4, (0, 1))
        assert hits, f"image {i} is not a shifted crop of its input"
        seen.add(hits[0])
    assert len(seen) > 12  # shifts and flips drawn per image, not one per batch
    small = torch.rand(8, 1, 16, 16)
    out = _augment(small, False, g)  # no flips for data sets that are not mirror-safe
    assert all(_crops_matching(out[i], small[i], 2, (0,)) for i in range(8))


def test_bf16_training_leaves_fp32_weights(tiny_evaluator):
    from pixelsmith.data.base import load_dataset

    train = load_dataset(DataConfig(name="digits", img_size=16, labels=True))
    net, steps = fit_classifier(train, img_channels=1, max_steps=2, batch_size=32, width=4,
                                bf16=True, log=lambda s: None)
    assert steps == 2 and all(p.dtype == torch.float32 for p in net.parameters())
    assert net(torch.zeros(2, 1, 16, 16)).dtype == torch.float32
    _, info = tiny_evaluator
    assert info["precision"] in ("bf16", "fp32")
    with pytest.raises(PixelsmithError, match="precision must be fp32, bf16 or auto, got 'half'"):
        train_evaluator(DataConfig(name="digits", img_size=16), max_steps=1, precision="half")


def test_evaluator_epochs_and_width_default_to_the_data_sets_recipe(tmp_path):
    info = train_evaluator(DataConfig(name="digits", img_size=16), max_steps=1,
                           precision="fp32", out=tmp_path, log=lambda s: None)
    assert (info["epochs"], info["width"], info["precision"]) == (*RECIPES["digits"], "fp32")
    assert RECIPES["cifar10"] == (30, 64)  # the recipe docs/benchmarks.md measured


def test_missing_evaluator_says_how_to_train_one(tmp_path):
    with pytest.raises(PixelsmithError, match="pixelsmith evaluator train --dataset digits"):
        load_evaluator(DataConfig(name="digits", img_size=16), tmp_path / "none")


def test_evaluate_cli_records_the_protocol(tiny_evaluator, tmp_path, isolated_cache, cli):
    out, _ = tiny_evaluator
    config = tmp_path / "exp.yaml"
    config.write_text("model:\n  name: dcgan\n")
    sets = [a for o in (*TINY, "train.steps=2") for a in ("--set", o)]
    cli("train", config, *sets, "--run-dir", tmp_path / "run")
    proc = cli("evaluate", tmp_path / "run", "--metrics", "fid,kid,is,pr", "--num", 64,
               "--evaluator", out, "--seed", 3, "--device", "cpu")
    assert "fid64@digits-evaluator" in proc.stdout
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines()]
    records = [r for r in rows if "metric" in r]
    names = [r["metric"] for r in records]
    assert names == ["fid64@digits-evaluator", "kid64@digits-evaluator",
                     "kid64@digits-evaluator_std", "is64@digits-evaluator",
                     "is64@digits-evaluator_std", "precision64@digits-evaluator",
                     "recall64@digits-evaluator"]
    fid = records[0]
    p = fid["protocol"]
    assert fid["step"] == 2 and fid["fid64@digits-evaluator"] >= 0
    assert p["reference"] == "digits test" and p["n_fake"] == 64 and p["n_real"] == 64
    assert p["reference_images"] >= 64  # the pool n_real was taken from: the whole split
    assert p["uint8"] is True and p["ema"] is False and p["seed"] == 3
    assert len(p["checkpoint_sha256"]) == 64 and p["pixelsmith"]
    proc = cli("evaluate", "--compare", tmp_path / "run", tmp_path / "run")
    assert "fid64@digits-evaluator" in proc.stdout
    # same seed, same numbers; the real-feature cache is reused, not rewritten
    from pixelsmith.metrics.evaluate import evaluate

    cached = list((isolated_cache / "real_features").glob("real-*.safetensors"))
    stamps = {p: p.stat().st_mtime_ns for p in cached}
    recs = evaluate(tmp_path / "run", ["fid", "acc", "cas"], num=64, evaluator=out,
                    write=False, device="cpu", seed=3)
    values = {r["metric"]: r[r["metric"]] for r in recs}
    assert values["fid64@digits-evaluator"] == pytest.approx(fid["fid64@digits-evaluator"])
    assert cached and {p: p.stat().st_mtime_ns for p in cached} == stamps
    # class accuracy and CAS (labels 0..9 are passed to generate)
    assert set(values) == {"fid64@digits-evaluator", "acc64@digits-evaluator",
                           "cas64@digits-test"}
    assert all(0.0 <= values[k] <= 1.0 for k in values if not k.startswith("fid"))
    with pytest.raises(PixelsmithError, match="unknown metric 'nope'"):
        evaluate(tmp_path / "run", ["nope"], num=64, evaluator=out, write=False)
    # the sampling setting is part of the protocol: --truncation draws other samples
    assert p["truncation"] == 0  # a GAN without the trick
    proc = cli("evaluate", tmp_path / "run", "--metrics", "fid", "--num", 64, "--evaluator",
               out, "--seed", 3, "--device", "cpu", "--truncation", "0.5")
    assert "truncation 0.5" in proc.stdout
    cut = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
           .splitlines()][-1]
    assert cut["protocol"]["truncation"] == 0.5
    assert cut["fid64@digits-evaluator"] != pytest.approx(fid["fid64@digits-evaluator"])


def test_training_evaluates_and_keeps_the_best_checkpoint(tiny_evaluator, tmp_path):
    from helpers import tiny_config
    from pixelsmith.api import train

    cfg = tiny_config("train.steps=4", "train.eval_every=2", "train.eval_num=32",
                      "train.eval_metrics=fid,is", "train.checkpoint_every=0")
    train(cfg, tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
            .splitlines()]
    fids = {r["step"]: r["fid32@digits-evaluator"] for r in rows
            if r.get("metric") == "fid32@digits-evaluator"}
    assert sorted(fids) == [2, 4]
    assert any(r.get("metric") == "is32@digits-evaluator" for r in rows)
    best = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "fid32@digits-evaluator" and best["value"] == min(fids.values())
    best_step = min(fids, key=fids.get)
    assert best["dir"] == f"step_{best_step:07d}"
    assert (tmp_path / "run" / "checkpoints" / best["dir"] / "model.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step_0000004").is_dir()  # last one too
    assert list((tmp_path / "run" / "tensorboard").iterdir())


def test_unknown_eval_metric_fails_before_training(tmp_path):
    from helpers import tiny_config
    from pixelsmith.api import make_trainer

    cfg = tiny_config("train.steps=1", "train.eval_every=1", "train.eval_metrics=fid,nope")
    with pytest.raises(PixelsmithError, match="unknown metric 'nope'"):
        make_trainer(cfg, tmp_path / "run")


def test_image_folder_evaluator_holds_out_part_of_train(tmp_path):
    from PIL import Image

    for c, value in (("dark", 30), ("light", 220)):
        (tmp_path / "pics" / c).mkdir(parents=True)
        for i in range(10):
            Image.new("L", (8, 8), value + i).save(tmp_path / "pics" / c / f"{i}.png")
    cfg = DataConfig(name="image-folder", root=str(tmp_path / "pics"), img_size=8)
    info = train_evaluator(cfg, max_steps=2, batch_size=8, width=4, out=tmp_path / "ev",
                           log=lambda s: None)
    assert info["dataset"] == "folder-pics" and info["num_classes"] == 2
    assert info["num_held_out"] == 2 and info["num_train"] == 18
    assert "held out of train" in info["held_out"]


def test_best_metric_direction_and_short_names():
    from pixelsmith.metrics.training_eval import is_better, short_name

    assert short_name("fid10k@fashion-mnist-evaluator") == "fid"
    assert short_name("kid64@digits-evaluator_std") == "kid_std"
    assert short_name("precision500@inception") == "precision"
    assert is_better("fid", 10.0, 12.0) and not is_better("fid", 13.0, 12.0)
    assert is_better("is", 8.0, 7.0) and not is_better("recall", 0.1, 0.2)
    assert is_better("kid", 1.0, None)


def _record(metric: str, value: float, **protocol) -> str:
    return json.dumps({"step": 5, "metric": metric, metric: value,
                       "protocol": {"reference": "digits test", **protocol}}) + "\n"


def test_compare_shows_how_each_score_was_sampled(tmp_path, cli):
    """Scores of the same weights under other sampling settings are other numbers: the
    comparison says which settings the latest record of each metric used."""
    from pixelsmith.metrics.evaluate import sampling_label

    ddpm, gan = tmp_path / "ddpm", tmp_path / "gan"
    ddpm.mkdir()
    gan.mkdir()
    diffusion = {"sampler": "dpm-solver-2m", "sample_steps": 20, "guidance": 1.0, "eta": 0.0,
                 "sample_precision": "fp32"}
    (ddpm / "metrics.jsonl").write_text(
        _record("fid10k", 2.92, **diffusion)
        + '{"step": 5, "loss": 0.1}\n'  # a training row, not a record
        + _record("fid10k", 1.65, **{**diffusion, "sampler": "ddpm", "sample_steps": 50,
                                     "sample_precision": "bf16"}))
    (gan / "metrics.jsonl").write_text(_record("fid10k", 0.69, truncation=0.0)
                                       + _record("kid10k", 0.001, truncation=0.5))
    assert sampling_label({"truncation": 0.0}) == "" and sampling_label(None) == ""
    assert sampling_label({**diffusion, "sampler": "ddim", "eta": 0.5, "guidance": 2.0}) == \
        "ddim, 20 steps, eta 0.5, guidance 2"
    proc = cli("evaluate", "--compare", ddpm, gan, env={"COLUMNS": "200"})
    row = next(line for line in proc.stdout.splitlines() if "fid10k" in line)
    assert "1.6500 (ddpm, 50 steps, bf16)" in row and "0.6900 " in row
    assert "2.9200" not in proc.stdout  # the latest record of each metric
    kid = next(line for line in proc.stdout.splitlines() if "kid10k" in line)
    assert "0.0010 (truncation 0.5)" in kid and kid.split("│")[2].strip() == "-"
