"""Reliability drills: every failure is one line naming the culprit, nothing is lost, nothing
runs on silently. One test (or a few) per defect of the reliability issue, numbered as there;
the bad-image corpus is in test_bad_inputs.py, kills and resumes in test_kill_resume.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from helpers import tiny_config
from pixelsmith.config import load_config
from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.generate import load_model
from pixelsmith.training import Trainer
from pixelsmith.training.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint

SRC = Path(__file__).parents[1] / "src"
RESTORER = ["data.name=digits", "data.img_size=16", "data.max_images=32", "data.patch_size=8",
            "model.name=dncnn", "model.depth=3", "model.width=4", "train.steps=1",
            "train.batch_size=4", "train.num_samples=2", "train.progress=false",
            "data.img_channels=1"]


def one_error_line(proc, status: int = 2) -> str:
    assert proc.returncode == status, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture
def run(tiny_gan_run, tmp_path) -> Path:
    """A private copy of the session's tiny GAN run (2 steps), free to damage."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_gan_run, copy)
    return copy


def ckpt_dir(run: Path) -> Path:
    return resolve_checkpoint(run)


# ---------------------------------------------------------------- 1. the catch-all handler
BOOM = """
import sys, typer
from pixelsmith.cli import app, main

@app.command("boom")
def boom(kind: str) -> None:
    if kind == "exit":
        raise typer.Exit(3)
    if kind == "disk":
        raise OSError(28, "No space left on device", "/runs/x/metrics.jsonl")
    raise RuntimeError("the real cause")

main()
"""


def _boom(kind: str, *options: str, debug: bool = False) -> subprocess.CompletedProcess:
    """The real ``main`` with one more command that fails as told."""
    env = {k: v for k, v in os.environ.items() if k != "PIXELSMITH_DEBUG"}
    env.update(PYTHONPATH=str(SRC), **({"PIXELSMITH_DEBUG": "1"} if debug else {}))
    return subprocess.run([sys.executable, "-c", BOOM, *options, "boom", kind],
                          capture_output=True, text=True, timeout=120, env=env)


def test_unexpected_exceptions_are_one_line_and_debug_shows_the_traceback():
    # the command's real cause, not an AttributeError of the handler (typer 0.29 vendors
    # click without click.exceptions.Exit); status 1 = a bug, 2 = a user error
    line = one_error_line(_boom("crash"), status=1)
    assert line.startswith("error: unexpected RuntimeError: the real cause")
    assert "PIXELSMITH_DEBUG=1" in line and "--debug" in line
    assert one_error_line(_boom("disk"), status=1) == (
        "error: /runs/x/metrics.jsonl: No space left on device")
    exit3 = _boom("exit")
    assert exit3.returncode == 3 and exit3.stderr == ""
    for debug in (_boom("crash", debug=True), _boom("crash", "--debug")):
        assert debug.returncode == 1 and "Traceback" in debug.stderr
        assert "RuntimeError" in debug.stderr and "the real cause" in debug.stderr


def test_usage_errors_and_debug_option_go_through_the_same_handler(cli, tmp_path):
    from pixelsmith.errors import one_line

    proc = cli("evaluate", ok=False)  # a missing argument: click's usage message, status 2
    assert proc.returncode == 2 and "Missing argument" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert one_line(MemoryError()).startswith("out of memory")


# ------------------------------------------------------- 2. damaged checkpoint metadata
def _edit_json(path: Path, fn) -> None:
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))


def _without(key):
    return lambda d: {k: v for k, v in d.items() if k != key}


META_DAMAGE = {
    "non-utf8": (lambda p: p.write_bytes(b"\xff\xfe{"), "not UTF-8"),
    "not-json": (lambda p: p.write_text("{step: 2"), "not valid JSON"),
    "a-list": (lambda p: p.write_text("[1, 2]"), "a JSON object was expected, got a list"),
    "no-config": (lambda p: _edit_json(p, _without("config")), "no 'config' entry"),
    "no-data": (lambda p: _edit_json(p, _without("data")), "no 'data' entry"),
    "string-step": (lambda p: _edit_json(p, lambda d: {**d, "step": "2"}), "'step' must be int"),
    "negative-step": (lambda p: _edit_json(p, lambda d: {**d, "step": -5}), "must be >= 0"),
    "model-a-list": (lambda p: _edit_json(p, lambda d: {**d, "config": {**d["config"],
                                                                         "model": [1]}}),
                     "'config.model' must be a dict"),
}
POINTER_DAMAGE = {
    "non-utf8": (lambda p: p.write_bytes(b"\x80\x81"), "not UTF-8"),
    "not-json": (lambda p: p.write_text('{"dir": '), "not valid JSON"),
    "a-list": (lambda p: p.write_text('["step_0000002"]'), "got a list"),
    "no-dir": (lambda p: p.write_text('{"step": 2}'), "no 'dir' entry"),
    "integer-dir": (lambda p: p.write_text('{"dir": 2}'), "'dir' must be str"),
    "outside-the-run": (lambda p: p.write_text('{"dir": "../../etc"}'), "must name a folder"),
}


@pytest.mark.parametrize("damage", META_DAMAGE)
def test_damaged_meta_json_is_one_line_naming_it(run, damage):
    fn, says = META_DAMAGE[damage]
    meta = ckpt_dir(run) / "meta.json"
    fn(meta)
    with pytest.raises(PixelsmithError, match=says) as e:
        load_model(run, device="cpu")
    assert str(e.value).startswith(f"{meta}: damaged")


@pytest.mark.parametrize("damage", POINTER_DAMAGE)
def test_damaged_last_and_best_pointers_are_one_line_naming_them(run, damage):
    fn, says = POINTER_DAMAGE[damage]
    last = run / "checkpoints" / "last.json"
    fn(last)
    with pytest.raises(PixelsmithError, match=says) as e:
        load_checkpoint(run)
    assert str(e.value).startswith(f"{last}: damaged")


def _rng_wrong_size(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["rng"]["torch"] = state["rng"]["torch"][:100]
    torch.save(state, path)


def _drop(key):
    def fn(path: Path) -> None:
        state = torch.load(path, weights_only=True)
        del state[key]
        torch.save(state, path)
    return fn


STATE_DAMAGE = {
    "missing": (lambda p: p.unlink(), "train_state.pt is missing"),
    "rng-wrong-size": (_rng_wrong_size, "RNG state must be uint8 of 5056 bytes"),
    "no-optimizers": (_drop("optimizers"), "no 'optimizers' entry"),
    "no-counters": (_drop("counters"), "no 'counters' entry"),
    "a-list": (lambda p: torch.save([1, 2], p), "a dict was expected"),
}


@pytest.mark.parametrize("damage", STATE_DAMAGE)
def test_damaged_train_state_refuses_resume_naming_it(run, damage):
    fn, says = STATE_DAMAGE[damage]
    fn(ckpt_dir(run) / "train_state.pt")
    with pytest.raises(PixelsmithError, match=says):
        Trainer.resume(run, ["train.steps=4"])
    load_model(run, device="cpu")  # the weights alone still sample


def test_damaged_metadata_through_the_cli_is_one_line(run, cli, tmp_path):
    (run / "checkpoints" / "last.json").write_text("[]")
    line = one_error_line(cli("sample", run, "--out", tmp_path / "s.png", ok=False))
    assert "last.json: damaged" in line


def test_damaged_rng_state_through_train_resume_is_one_line(run, cli):
    _rng_wrong_size(ckpt_dir(run) / "train_state.pt")
    line = one_error_line(cli("train", "--resume", run, ok=False))
    assert "train_state.pt: damaged (the torch RNG state" in line


# ------------------------------------------------ 4 and 7. restore's --out is checked first
@pytest.fixture(scope="module")
def restorer(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("restorer") / "run"
    Trainer(load_config(None, RESTORER), run).fit()
    return run


def test_restore_out_on_a_file_or_over_its_inputs_is_refused(restorer, tmp_path, cli):
    pics = tmp_path / "pics"
    pics.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((12, 12), 90, np.uint8)).save(pics / name)
    before = (pics / "a.png").read_bytes()
    line = one_error_line(cli("restore", "-c", restorer, "-i", pics / "a.png", "-o",
                              pics / "b.png", ok=False))
    assert line.startswith(f"error: --out {pics / 'b.png'} is a file; --out must be a folder")
    line = one_error_line(cli("restore", "-c", restorer, "-i", "a.png", "-o", ".", cwd=pics,
                              ok=False))
    assert "would overwrite the input a.png" in line
    from pixelsmith.restore.files import check_output_folder

    with pytest.raises(PixelsmithError, match="would overwrite the input"):
        check_output_folder(pics, sorted(pics.iterdir()), pics)  # -i pics -o pics
    (tmp_path / "a.png").write_bytes(b"")  # the --mask, where a.png's output would go
    with pytest.raises(PixelsmithError, match=f"would overwrite the input {tmp_path / 'a.png'}"):
        check_output_folder(tmp_path, [pics / "a.png"], None, keep=[tmp_path / "a.png"])
    assert (pics / "a.png").read_bytes() == before


# ------------------------------------------------------ 5. re-saving a step is atomic
def _save(root: Path, step: int, value: float) -> Path:
    net = torch.nn.Linear(2, 2)
    torch.nn.init.constant_(net.weight, value)
    return save_checkpoint(root, step, nets={"net": net}, ema=None, ema_name="net",
                           train_state={"x": torch.zeros(1)},
                           meta={"config": {}, "data": {"num_classes": 0}})


def test_a_step_saved_twice_never_leaves_last_json_pointing_at_nothing(tmp_path, monkeypatch):
    import pixelsmith.training.checkpoint as ck

    root = tmp_path / "checkpoints"
    first = _save(root, 4, 1.0)
    real_rename = os.rename

    def failing_rename(src, dst):  # the I/O error (or kill) between the two renames
        raise OSError(5, "Input/output error", str(src))

    monkeypatch.setattr(ck.os, "rename", failing_rename)
    with pytest.raises(PixelsmithError, match="the previous checkpoint is intact"):
        _save(root, 4, 2.0)
    assert resolve_checkpoint(root) == first
    assert load_file(first / "model.safetensors")["net.weight"].eq(1.0).all()
    monkeypatch.setattr(ck.os, "rename", real_rename)
    second = _save(root, 4, 2.0)  # beside the first; the first goes once last.json moved
    assert second != first and resolve_checkpoint(root) == second and not first.exists()
    assert load_file(second / "model.safetensors")["net.weight"].eq(2.0).all()
    assert sorted(p.name for p in root.iterdir()) == ["last.json", second.name]


# ------------------------------------------------------ 6 and 12. config values checked
@pytest.mark.parametrize("override, says", [
    ("train.log_every=0", "'train.log_every' must be an integer >= 1, got 0"),
    ("train.log_every=-1", "'train.log_every' must be an integer >= 1, got -1"),
    ("train.num_samples=0", "'train.num_samples' must be an integer >= 1"),
    ("model.g_width=0", "'model.g_width' must be an integer >= 1"),
    ("model.z_dim=0", "'model.z_dim' must be an integer >= 1"),
    ("objective.lr_g=-0.001", "'objective.lr_g' must be a number > 0"),
    ("objective.lr_d=.nan", "'objective.lr_d' must be a finite number"),
    ("objective.betas=[0.5, 1.5]", "'objective.betas' must be two numbers in [0, 1)"),
    ("objective.betas=0.5", "'objective.betas' must be a list"),
    ("train.device=tpu", "'train.device' must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"),
    ("train.ema_decay=2", "'train.ema_decay' must be a number in [0, 1)"),
    ("model=3", "'model' must be a mapping of keys"),
    ("model=[1, 2]", "'model' must be a mapping of keys"),
    ("train=5", "'train' must be a mapping of keys"),
])
def test_bad_config_values_are_one_line_naming_the_key(override, says):
    with pytest.raises(PixelsmithError) as e:
        load_config(None, [override])
    assert says in str(e.value)


@pytest.mark.parametrize("text, says", [
    (b"\x00\x01\xff\xfebinary", "not a text (UTF-8) YAML file"),
    (b"model: 5\n", "'model' must be a mapping of keys"),
    (b"train:\n  steps: 1\n  steps: 2\n", "line 3 is not valid YAML (key 'steps' appears twice)"),
    (b"!!python/object/apply:os.system ['touch x']\n", "is not valid YAML"),
])
def test_bad_config_files_are_one_line_naming_the_file(text, says, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(text)
    with pytest.raises(PixelsmithError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}") and says in str(e.value)


def test_bad_override_through_the_cli_is_one_line(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  steps: 1\n")
    line = one_error_line(cli("train", cfg, "--set", "train.log_every=0", "--run-dir",
                              tmp_path / "r", ok=False))
    assert "'train.log_every' must be an integer >= 1, got 0" in line
    assert not (tmp_path / "r").exists()


def test_grids_too_large_or_onto_a_folder_are_refused_and_folders_stream(tiny_gan_run, tmp_path,
                                                                         monkeypatch):
    from pixelsmith.generate import generate, sample_batches, sampling
    from pixelsmith.generate.writer import check_grid

    model = load_model(tiny_gan_run, device="cpu")
    with pytest.raises(PixelsmithError, match="too large for one picture .* --out DIR"):
        check_grid(model, 1_000_000_000, tmp_path / "grid.png")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(PixelsmithError, match="is a folder; a grid needs a file name"):
        check_grid(model, 4, tmp_path / "d.png")
    check_grid(model, 10**9, tmp_path / "folder")  # a folder is written as it goes
    # inputs are drawn a block at a time: memory bounded, the same images at any batch size
    small = generate(model, 6, seed=1)
    monkeypatch.setattr(sampling, "BLOCK", 4)
    drawn = []
    original = model.objective.sample_inputs
    monkeypatch.setattr(model.objective, "sample_inputs",
                        lambda n, g, labels=None: drawn.append(n) or original(n, g, labels))
    a = torch.cat([x for _, x in sample_batches(model, 10, seed=1, batch_size=3)])
    b = torch.cat([x for _, x in sample_batches(model, 10, seed=1, batch_size=10)])
    # (batches of other sizes may round differently in the last float bits)
    assert torch.allclose(a, b, atol=1e-5) and max(drawn) == 4
    assert torch.allclose(a[:4], small[:4], atol=1e-5)  # the first block: as it always was


# --------------------------------------------- 8. a used run folder is refused by default
def test_train_refuses_a_used_run_folder_and_keeps_what_is_there(run, cli, tmp_path):
    (run / "checkpoints" / "last.json").unlink()  # an old run whose pointer got lost
    steps = sorted(p.name for p in (run / "checkpoints").iterdir())
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  steps: 1\n")
    line = one_error_line(cli("train", cfg, "--run-dir", run, ok=False))
    assert f"{run} already holds a run; use --resume" in line and "--overwrite" in line
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == steps
    from pixelsmith.training.run_folder import prepare_run_dir

    own = tmp_path / "mine"
    own.mkdir()
    (own / "config.txt").write_text("my notes")
    with pytest.raises(PixelsmithError, match="is not empty .*config.txt"):
        prepare_run_dir(own)
    with pytest.raises(PixelsmithError, match="is a file"):
        prepare_run_dir(own / "config.txt")
    with pytest.raises(PixelsmithError, match="/proc/pixelsmith-run: cannot write there"):
        prepare_run_dir(Path("/proc/pixelsmith-run"))  # before any data is loaded
    prepare_run_dir(run, overwrite=True)  # deletes the earlier run's files, only those
    (run / "notes.txt").write_text("kept")
    prepare_run_dir(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


# ------------------------------------- 10. runaway training and broken weights are refused
def test_runaway_weights_stop_the_run_truthfully(tmp_path):
    trainer = Trainer(tiny_config("train.steps=6", "train.checkpoint_every=2"), tmp_path / "a")

    def explode(t):  # finite but absurd, as at lr 1e6: the losses still look like numbers
        if t.step == 3:
            with torch.no_grad():
                next(t.nets["generator"].parameters()).mul_(1e12)

    trainer.add_callback("on_step_end", explode)
    with pytest.raises(PixelsmithError, match="ran away .*step 3.*the last good checkpoint, "
                                              "step 2 in .*is intact"):
        trainer.fit()
    assert resolve_checkpoint(tmp_path / "a").name == "step_0000002"
    fresh = Trainer(tiny_config("train.steps=3", "train.checkpoint_every=0",
                                "objective.lr_g=1e6", "objective.lr_d=1e6"), tmp_path / "b")
    with pytest.raises(PixelsmithError, match="no checkpoint was written"):
        fresh.fit()
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_nan_weights_are_refused_by_every_loader(run, cli, tmp_path):
    path = ckpt_dir(run) / "model.safetensors"
    state = load_file(path)
    key = next(k for k, v in state.items() if k.startswith("generator.") and
               v.is_floating_point())
    state[key] = torch.full_like(state[key], float("nan"))
    save_file(state, str(path))
    with pytest.raises(PixelsmithError, match="hold NaN/inf values"):
        load_model(run, device="cpu")
    with pytest.raises(PixelsmithError, match="hold NaN/inf values"):
        Trainer.resume(run, ["train.steps=4"])
    line = one_error_line(cli("sample", run, "--out", tmp_path / "s.png", ok=False))
    assert "weights hold NaN/inf values" in line and not (tmp_path / "s.png").exists()


def test_an_evaluator_near_chance_is_loudly_warned_about(tmp_path):
    from pixelsmith.config.schema import DataConfig
    from pixelsmith.metrics.evaluator import warn_if_weak, weak_accuracy

    class Weak:
        info, num_classes, folder = {"held_out_accuracy": 0.11}, 10, tmp_path

    assert weak_accuracy(10) == pytest.approx(0.55) and weak_accuracy(2) == pytest.approx(0.75)
    with pytest.warns(UserWarning, match="only 11% of held-out images right .*chance 10%"):
        warn_if_weak(Weak(), DataConfig(name="digits"))


# --------------------------------------- 11. a torn metrics.jsonl and a damaged best.json
def test_resume_drops_a_torn_metrics_line_with_a_note(run, capsys):
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 3, "d/lo')  # what a kill in the middle of a write leaves
    (run / "checkpoints" / "best.json").write_text("{not json")
    trainer = Trainer.resume(run, ["train.steps=4"])
    assert "dropped a half-written last line" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="best.json: damaged .*moved aside"):
        trainer.fit()
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d/loss" in r] == [1, 2, 3, 4]
    assert (run / "checkpoints" / "best.json.damaged").is_file()
    assert load_checkpoint(run).meta["step"] == 4


# ------------------------------------------------- 12. invalid pixel values and --sigma
def test_a_float_tiff_with_an_inf_pixel_is_refused(tmp_path):
    from pixelsmith.data.image_files import read_image
    from pixelsmith.restore.files import check_sigma

    a = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    a[3, 3] = np.inf
    Image.fromarray(a, "F").save(tmp_path / "x.tif")
    with pytest.raises(UnreadableImage, match="NaN or infinite pixel values"):
        read_image(tmp_path / "x.tif")
    for bad in (float("nan"), -1.0, 300.0):
        with pytest.raises(PixelsmithError, match="--sigma must be a noise level in 0..255"):
            check_sigma(bad)
    check_sigma(25.0)


# ------------------------------------ 13. a stated pixel limit; progress and Ctrl-C in tiles
def test_the_pixel_limit_is_explicit_and_can_be_raised(tmp_path, monkeypatch):
    from pixelsmith.data.image_files import read_image

    Image.new("L", (100, 50)).save(tmp_path / "p.png")
    monkeypatch.setenv("PIXELSMITH_MAX_PIXELS", "4000")
    with pytest.raises(UnreadableImage, match="100 x 50 .* --max-pixels 5000 .*"
                                              "PIXELSMITH_MAX_PIXELS=5000"):
        read_image(tmp_path / "p.png")
    monkeypatch.setenv("PIXELSMITH_MAX_PIXELS", "5000")
    assert read_image(tmp_path / "p.png").pixels.shape == (1, 50, 100)


def test_a_large_restore_shows_tile_progress_and_stops_on_ctrl_c(restorer, tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (3000, 3000), np.uint8)).save(
        tmp_path / "big.png")
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pixelsmith", "restore", "-c", str(restorer), "-i",
         str(tmp_path / "big.png"), "-o", str(tmp_path / "out"), "--tile", "32", "--overlap",
         "8"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        # a shell's background job starts with Ctrl-C ignored, which Python keeps: give the
        # child the default, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stderr.readline()  # blocks until the first progress line
        assert first.startswith("big.png: tile 1/15625"), first
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and rest.strip().endswith("aborted"), rest
    assert "Traceback" not in rest
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
