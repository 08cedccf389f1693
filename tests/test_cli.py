"""Run the real ``pixelsmith`` entry point in a temporary folder and check what it wrote."""


import pytest
from PIL import Image

from helpers import TINY


def sets(*overrides):
    return [a for o in (*TINY, *overrides) for a in ("--set", o)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cli):
    tmp = tmp_path_factory.mktemp("cli")
    config = tmp / "exp.yaml"
    config.write_text("model:\n  name: dcgan\ntrain:\n  steps: 2\n")
    cli("train", config, *sets("train.steps=2"), "--run-dir", tmp / "run")
    return tmp / "run"


def test_train_writes_a_run(trained):
    assert (trained / "config.yaml").is_file()
    assert (trained / "checkpoints" / "last.json").is_file()


def test_resume_continues_and_refuses_to_overwrite(trained, tmp_path, cli):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    cli("train", "--resume", run, "--set", "train.steps=4")
    assert (run / "checkpoints" / "step_0000004").is_dir()
    proc = cli("train", tmp_path / "none.yaml", "--run-dir", run, ok=False)
    assert proc.returncode == 2 and "config file not found" in proc.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  steps: 1\n")
    proc = cli("train", cfg, "--run-dir", run, ok=False)
    assert "already holds a run; use --resume" in proc.stderr


def test_sample_grid_and_folder(trained, tmp_path, cli):
    cli("sample", trained, "--num", 9, "--out", tmp_path / "grid.png", "--seed", 1)
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (3 * 16 + 4 * 2, 3 * 16 + 4 * 2)  # 3x3 tiles of 16 px, 2 px padding
    cli("sample", trained, "--num", 5, "--out", tmp_path / "many")
    files = sorted((tmp_path / "many").iterdir())
    assert len(files) == 5 and Image.open(files[0]).size == (16, 16)


def test_sample_is_reproducible_per_seed(trained, tmp_path, cli):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        cli("sample", trained, "--num", 4, "--out", tmp_path / f"{name}.png", "--seed", seed)
    a, b, c = ((tmp_path / f"{n}.png").read_bytes() for n in "abc")
    assert a == b and a != c


def test_list_prints_registries(cli):
    out = cli("list").stdout
    for name in ("dcgan", "non-saturating", "digits", "mnist", "fashion-mnist", "cifar10",
                 "image-folder", "gan"):
        assert name in out


@pytest.mark.parametrize("args, message", [
    (["sample", "no/such/run"], "error: no such run or checkpoint: no/such/run"),
    (["train", "--set", "train.steps=1"], "error: missing CONFIG"),
])
def test_bad_input_is_one_line_error_not_a_traceback(args, message, tmp_path, cli):
    proc = cli(*args, cwd=tmp_path, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == message or proc.stderr.startswith(message)
    assert "Traceback" not in proc.stderr


def test_unknown_key_in_config_names_the_key(tmp_path, cli):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  stepz: 3\n")
    proc = cli("train", cfg, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: {cfg}: unknown key 'train.stepz'; valid keys are: " + proc.stderr.split(
            "valid keys are: ")[1].strip())
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
