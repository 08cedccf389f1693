import json
import os

import pytest
import torch

from helpers import tiny_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import load_model
from pixelsmith.training import Trainer
from pixelsmith.training.checkpoint import load_checkpoint, resolve_checkpoint


class _Payload:
    """Unpickling this object runs os.system: a stand-in for a malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("ckpt") / "run"
    Trainer(tiny_config("train.steps=2"), run).fit()
    return run


def test_checkpoint_never_executes_code(run, tmp_path):
    marker = tmp_path / "pwned"
    ckpt_dir = resolve_checkpoint(run)
    state_file = ckpt_dir / "train_state.pt"
    good = state_file.read_bytes()
    try:
        # a real torch checkpoint whose pickle would run a shell command when unpickled
        torch.save({"optimizers": _Payload(marker)}, state_file)
        with pytest.raises(PixelsmithError, match="refusing to load"):
            load_checkpoint(run).train_state()
        with pytest.raises(PixelsmithError, match="refusing to load"):
            Trainer.resume(run)
        assert not marker.exists(), "unpickling ran code from the checkpoint"
    finally:
        state_file.write_bytes(good)
    # and the armed file really would have run it with a plain pickle load
    torch.save({"optimizers": _Payload(marker)}, tmp_path / "armed.pt")
    torch.load(tmp_path / "armed.pt", weights_only=False)
    assert marker.exists()


def test_weights_are_safetensors_and_meta_is_json(run):
    ckpt_dir = resolve_checkpoint(run)
    assert sorted(p.name for p in ckpt_dir.iterdir()) == [
        "meta.json", "model.safetensors", "train_state.pt"]
    meta = json.loads((ckpt_dir / "meta.json").read_text())
    assert meta["step"] == 2 and meta["config"]["train"]["steps"] == 2
    assert meta["versions"]["torch"] == torch.__version__


def test_reloaded_in_a_new_process_gives_the_same_samples(run, tmp_path):
    import subprocess
    import sys

    from pixelsmith.generate import generate

    here = generate(load_model(run, device="cpu"), 4, seed=3)
    code = ("import sys, torch; from pixelsmith.generate import load_model, generate; "
            "torch.save(generate(load_model(sys.argv[1], device='cpu'), 4, seed=3), sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(run), str(tmp_path / "x.pt")], check=True)
    assert torch.equal(here, torch.load(tmp_path / "x.pt", weights_only=True))


def test_checkpoint_write_is_atomic_and_previous_survives_a_crash(run, tmp_path, monkeypatch):
    import shutil

    import pixelsmith.training.checkpoint as ck

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = resolve_checkpoint(copy)
    trainer = Trainer.resume(copy, ["train.steps=4"])

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", crash)
    with pytest.raises(OSError):
        trainer.fit()
    # the crash left the old checkpoint in place and still pointed at
    assert resolve_checkpoint(copy) == before
    assert load_checkpoint(copy).meta["step"] == 2


def test_bad_paths_and_incompatible_checkpoints(run, tmp_path):
    with pytest.raises(PixelsmithError, match="no such run or checkpoint"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(PixelsmithError, match="is not a pixelsmith run"):
        load_checkpoint(tmp_path)
    # a checkpoint whose weights were made for another width
    from pixelsmith.models import build_model
    from pixelsmith.training.checkpoint import load_nets

    other = tiny_config("model.g_width=16")
    nets = build_model(other.model, img_size=16, img_channels=1)
    with pytest.raises(PixelsmithError, match="weights do not fit network 'generator'"):
        load_nets(dict(nets.items()), load_checkpoint(run).model, run)
