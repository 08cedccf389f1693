"""The speed levers: streamed sampling to a folder, the bench's reference loop, and
train.compile (slow: compiling takes a minute and more on a small CPU)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import tiny_config
from pixelsmith.config import load_config
from pixelsmith.data.base import load_dataset
from pixelsmith.generate import generate, generate_to_folder, load_model, write_images
from pixelsmith.training import Trainer

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.iterdir())]


def test_streamed_folder_equals_generate_then_save(tmp_path):
    tr = Trainer(tiny_config("train.steps=1"), tmp_path / "run")
    tr.train_step()
    tr.save()
    model = load_model(tmp_path / "run", device="cpu")
    write_images(generate(model, 11, seed=5, batch_size=4), tmp_path / "plain")
    generate_to_folder(model, 11, tmp_path / "streamed", seed=5, batch_size=4, writers=3)
    names = sorted(p.name for p in (tmp_path / "streamed").iterdir())
    assert names == [f"{i:06d}.png" for i in range(11)]
    for a, b in zip(pngs(tmp_path / "plain"), pngs(tmp_path / "streamed")):
        assert a.shape == (16, 16) and np.array_equal(a, b)


VAE = ["model.name=vae", "model.z_dim=8", "model.width=8", "data.img_size=16",
       "data.max_images=64", "train.batch_size=16", "train.progress=false"]


@pytest.mark.parametrize("cfg", [
    lambda: tiny_config(),  # DCGAN, non-saturating
    lambda: tiny_config("objective.loss=wasserstein", "objective.gp_weight=10",
                        "objective.n_critic=2"),
    lambda: load_config(None, VAE),
    lambda: load_config(ROOT / "configs/restoration/dncnn-gray-s25.yaml", [
        "data.name=digits", "data.root=null", "data.img_size=24", "data.patch_size=16",
        "data.max_images=64", "model.depth=4", "model.width=8", "train.batch_size=16"]),
], ids=["dcgan", "wgan-gp", "vae", "dncnn"])
def test_reference_loop_computes_the_same_losses(cfg, tmp_path):
    # the bench's yardstick must train the same thing: from equal weights, on the same
    # batches and the same seed, one step of the reference loop sums the same losses
    # (every D run, then G; or the VAE's / the restorer's one loss) as pixelsmith's phases;
    # G's loss follows D's optimizer step, so that update is compared too
    from reference_loops import ReferenceLoop

    cfg = cfg()
    loop = ReferenceLoop(cfg, load_dataset(cfg.data).images, torch.device("cpu"))
    tr = Trainer(cfg, tmp_path / "run")  # the same architecture pixelsmith trains
    assert [p.shape for p in loop.nets.parameters()] == [p.shape for p in tr.nets.parameters()]
    loop.nets.load_state_dict(tr.nets.state_dict())
    state = tr.batches.state_dict()  # the batches pixelsmith's step will draw, fed to both
    draws = sum(ph.repeats for ph in tr.phases if ph.fresh_batch)
    loop.batches = iter([(tr.batches.next().x,) for _ in range(draws)])
    tr.batches.load_state_dict(state)
    seen = []

    def recording(loss_fn):
        def loss(batch):
            out = loss_fn(batch)
            seen.append(out["loss"].item())
            return out
        return loss

    for phase in tr.phases:
        phase.loss = recording(phase.loss)
    torch.manual_seed(7)
    tr.train_step()
    torch.manual_seed(7)
    loop.step()
    assert len(seen) == len(tr.phases) + sum(ph.repeats - 1 for ph in tr.phases)
    assert np.isfinite(loop.running)
    # measured: equal (GANs) or within 1.1e-7 relative (fp32 sums in another order)
    assert loop.running == pytest.approx(sum(seen), rel=1e-6)


def _two_steps(tmp_path: Path, compile: bool, *extra: str):
    tr = Trainer(tiny_config("model.dropout=0", f"train.compile={str(compile).lower()}",
                             *extra), tmp_path / f"c{compile}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tr.train_step()
        tr.train_step()
    msgs = [str(w.message) for w in caught if "train.compile" in str(w.message)]
    return {k: v.detach().clone() for k, v in tr.nets.state_dict().items()}, msgs


@pytest.mark.slow
def test_compile_matches_eager(tmp_path):
    eager, _ = _two_steps(tmp_path, False)
    compiled, msgs = _two_steps(tmp_path, True)
    assert msgs == []  # compiled, no fallback
    # inductor fuses and reorders fp32 arithmetic: measured max |diff| 3e-7 after 2 steps
    worst = max((eager[k].float() - compiled[k].float()).abs().max().item() for k in eager)
    assert worst < 1e-5, worst


@pytest.mark.slow
def test_compile_falls_back_to_eager_when_double_backward_is_needed(tmp_path):
    # the gradient penalty differentiates D's gradient; compiled graphs cannot (torch 2.x)
    gp = ["objective.loss=wasserstein", "objective.gp_weight=10"]
    eager, _ = _two_steps(tmp_path, False, *gp)
    fallback, msgs = _two_steps(tmp_path, True, *gp)
    assert len(msgs) == 1 and "training eagerly" in msgs[0]
    # the failed first step was rolled back, so the run is exactly the eager run
    assert all(torch.equal(eager[k], fallback[k]) for k in eager)


def test_compile_nets_must_name_a_network(tmp_path):
    from pixelsmith.errors import PixelsmithError

    with pytest.raises(PixelsmithError, match="train.compile_nets: no network 'critic'"):
        Trainer(tiny_config("train.compile=true", "train.compile_nets=critic"), tmp_path)


def test_restoring_does_not_import_torchvision():
    """torchvision (and the torch._dynamo it pulls in) takes seconds to import: a seventh of
    `pixelsmith restore`'s time on a 12 MP photograph on a 2-core CPU. The restore path
    must not load it."""
    import subprocess

    code = ("import sys, pixelsmith.restore, pixelsmith.zoo, pixelsmith.cli.restore_cmd; "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False", out.stderr
