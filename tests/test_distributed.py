"""Data-parallel training with real processes: 2 CPU ranks over gloo, launched by torchrun
exactly as a user would (`python -m torch.distributed.run --nproc-per-node 2 -m pixelsmith
train ...`). Each launch starts two Python processes (~5-10 s on a small CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import pixelsmith
from helpers import TINY
from pixelsmith.config import load_config
from pixelsmith.data.base import load_dataset
from pixelsmith.data.batches import DeviceBatches
from pixelsmith.objectives.base import Objective
from pixelsmith.training import Trainer
from pixelsmith.training.distributed import CRASH_ENV

# the VAE has no BatchNorm, so 2 ranks can match 1 process (BatchNorm statistics would be
# per-rank: over 8 images instead of 16, a real difference, not a rounding one)
VAE = ["model.name=vae", "model.z_dim=8", "model.width=8", "data.name=digits",
       "data.img_size=16", "data.max_images=64", "train.batch_size=16", "train.log_every=1",
       "train.sample_every=2", "train.checkpoint_every=2", "train.num_samples=16",
       "train.progress=false"]
# fp32 sums reduced in another order differ by ~1e-7; after 4 Adam steps of lr 1e-3 we
# measured max |diff| 2e-7, so 1e-5 leaves room and still catches any real mismatch
# (a rank missing its gradient average moves weights by ~1e-3 per step)
ATOL = 1e-5


def torchrun(args: list[str], tmp: Path, env: dict | None = None, timeout: float = 120,
             entry: tuple[str, ...] = ("-m", "pixelsmith", "train"), ok: bool = True):
    """Run ``entry args`` on 2 ranks; with ``ok`` the launch must exit 0."""
    src = str(Path(pixelsmith.__file__).parents[1])  # test this checkout's code
    full_env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", **(env or {})}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        full_env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", *entry, *args]
    r = subprocess.run(cmd, cwd=tmp, env=full_env, capture_output=True, text=True,
                       timeout=timeout)  # the guard: a hang fails the test, never blocks CI
    if ok:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


def config_args(tmp: Path, overrides: list[str]) -> list[str]:
    """A CONFIG file (the CLI needs one) plus the overrides as --set options."""
    (tmp / "base.yaml").write_text("train:\n  progress: false\n")
    return [str(tmp / "base.yaml"), *[a for o in overrides for a in ("--set", o)]]


def weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / f"step_{step:07d}" / "model.safetensors")


def test_rank_slices_make_the_global_batch():
    data = load_dataset(load_config(None, VAE).data)
    one = DeviceBatches(data, 16, 1, torch.device("cpu"))
    ranks = [DeviceBatches(data, 16, 1, torch.device("cpu"), shard=(r, 2)) for r in range(2)]
    for _ in range(6):  # crosses an epoch boundary (64 images, 16 a batch)
        whole = one.next().x
        parts = [r.next().x for r in ranks]
        assert parts[0].shape[0] == 8
        assert torch.equal(torch.cat(parts), whole)

    obj = Objective(None, None, None, torch.device("cpu"))
    torch.manual_seed(3)
    z = obj.randn(8, 4)
    obj.shard = (1, 2)
    torch.manual_seed(3)
    assert torch.equal(obj.randn(4, 4), z[4:])  # rank 1's noise is its slice of the global z


def compare(one: Path, two: Path, steps: int, loss: str = "vae/loss",
            atol: float = ATOL) -> None:
    a, b = weights(one, steps), weights(two, steps)
    assert a.keys() == b.keys()
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < atol, worst
    # the logged means are averaged over ranks: the numbers one process logs
    rows = [[json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
            for run in (one, two)]
    assert [x["step"] for x in rows[1]] == list(range(1, steps + 1))
    for x, y in zip(*rows):
        assert abs(x[loss] - y[loss]) <= 1e-4 * abs(x[loss])


def test_two_ranks_match_one_process_and_only_rank0_writes(tmp_path):
    Trainer(load_config(None, [*VAE, "train.steps=3"]), tmp_path / "one").fit()
    two = tmp_path / "two"
    r = torchrun([*config_args(tmp_path, [*VAE, "train.steps=3"]), "--run-dir", str(two)],
                 tmp_path)
    # rank 0 alone wrote: one TensorBoard file, one row per step, one grid per sample step
    assert len(list((two / "tensorboard").iterdir())) == 1
    assert len((two / "metrics.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in (two / "samples").iterdir()) == [
        "step_0000002.png", "step_0000003.png"]
    assert r.stdout.count("run folder:") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.yaml", "one", "two"]
    compare(tmp_path / "one", two, 3)


@pytest.mark.slow
def test_resume_under_two_ranks_matches_one_process(tmp_path):
    Trainer(load_config(None, [*VAE, "train.steps=4"]), tmp_path / "one").fit()
    two = tmp_path / "two"
    torchrun([*config_args(tmp_path, [*VAE, "train.steps=2"]), "--run-dir", str(two)], tmp_path)
    torchrun(["--resume", str(two), "--set", "train.steps=4"], tmp_path)
    compare(tmp_path / "one", two, 4)


# One launch (each costs ~20 s here) checks two things that used to kill 2-rank runs:
# - rank 0's evaluation at step 3 (a registered metric that takes 8 s) outlasts the
#   collective timeout (3 s): rank 1 must wait in the long barrier, not die in an all_reduce;
# - Ctrl-C reaching one rank only (e.g. `kill -INT` of one worker): rank 1 interrupts itself
#   after step 3, and with log rows every 2 steps both ranks must agree to stop at step 4,
#   and leave training together, after rank 0's last checkpoint and curves.
SCRIPT = """
import os, signal, sys, time
from pixelsmith.config import load_config
from pixelsmith.api import make_trainer
from pixelsmith.registry import METRICS
from pixelsmith.training import distributed as dist

@METRICS.register("slow", help="test only: a long evaluation")
def slow(ctx):
    time.sleep(8)
    return {"slow": 1.0}

def interrupt(t):
    if t.dist.rank == 1 and t.step == 3:
        os.kill(os.getpid(), signal.SIGINT)

tr = make_trainer(load_config(None, sys.argv[2:]), sys.argv[1])
tr.add_callback("on_step_end", interrupt)
tr.fit()
print(f"rank {tr.dist.rank} stopped at step {tr.step} at {time.time()}")
dist.shutdown()
"""


@pytest.mark.drill
def test_long_evaluation_on_rank0_and_ctrl_c_on_one_rank(tmp_path, isolated_cache):
    from pixelsmith.config.schema import DataConfig
    from pixelsmith.metrics.evaluator import train_evaluator

    evaluator = isolated_cache / "evaluators" / "digits-16-1"  # where training eval looks
    if not (evaluator / "evaluator.json").is_file():
        train_evaluator(DataConfig(name="digits", img_size=16), max_steps=3, batch_size=64,
                        width=4, out=evaluator, log=lambda s: None)
    (tmp_path / "script.py").write_text(SCRIPT)
    run = tmp_path / "run"
    cfg = [*VAE, "train.steps=8", "train.log_every=2", "train.eval_every=3",
           "train.eval_metrics=slow", "train.eval_num=2", "train.checkpoint_every=0",
           "train.sample_every=0"]
    t0 = time.monotonic()
    r = torchrun([str(run), *cfg], tmp_path, env={"PIXELSMITH_DIST_TIMEOUT": "3"},
                 entry=(str(tmp_path / "script.py"),))
    assert time.monotonic() - t0 < 90
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in rows if x.get("metric") == "slow"] == [3]  # rank 0 wrote it
    assert "rank 0 stopped at step 4" in r.stdout and "rank 1 stopped at step 4" in r.stdout
    assert "stopped at step 4; checkpoint saved" in r.stdout + r.stderr  # rank 0, once
    assert json.loads((run / "checkpoints" / "last.json").read_text())["step"] == 4
    # rank 1 left fit() only after rank 0 had written everything (its curves come last)
    left = float(r.stdout.split("rank 1 stopped at step 4 at ")[1].split()[0])
    assert left >= (run / "loss_curves.png").stat().st_mtime


@pytest.mark.drill
def test_a_crashed_rank_ends_the_run(tmp_path):
    # WGAN-GP with 2 critic steps: the distributed path through GAN phases and the penalty
    cfg = [*TINY, "objective.loss=wasserstein", "objective.gp_weight=10",
           "objective.n_critic=2", "train.steps=6"]
    t0 = time.monotonic()
    r = torchrun([*config_args(tmp_path, cfg), "--run-dir", str(tmp_path / "run")], tmp_path,
                 env={CRASH_ENV: "1:2", "PIXELSMITH_DIST_TIMEOUT": "60"}, ok=False)
    assert time.monotonic() - t0 < 100
    assert r.returncode != 0
    assert "rank 1 crashes at step 2" in r.stderr
    assert "ChildFailedError" in r.stderr  # torchrun's summary names the failed rank
    # rank 0's checkpoint of step 2 was written before the crash and is intact
    assert (tmp_path / "run" / "checkpoints" / "step_0000002" / "model.safetensors").exists()


@pytest.mark.slow
def test_accelerate_launch_matches_one_process(tmp_path):
    # `accelerate launch --multi_gpu` only starts the processes (through torchrun); without
    # CUDA pixelsmith joins them over gloo. (`--cpu --num_processes 2` would start ONE.)
    Trainer(load_config(None, [*VAE, "train.steps=2"]), tmp_path / "one").fit()
    src = str(Path(pixelsmith.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
           "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
           "0", "-m", "pixelsmith", "train",
           *config_args(tmp_path, [*VAE, "train.steps=2"]), "--run-dir", str(tmp_path / "acc")]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    compare(tmp_path / "one", tmp_path / "acc", 2)


@pytest.mark.slow
def test_restoration_two_ranks_match_one_process(tmp_path):
    # DnCNN without BatchNorm: patches and noise are the rank's slices of the global batch's
    # (data/patches.py, objectives/restoration.py), so 2 ranks reproduce 1 (measured 1.5e-8)
    cfg = ["model.name=dncnn", "model.depth=4", "model.width=8", "model.batch_norm=false",
           "objective.name=restoration", "data.name=digits", "data.img_size=24",
           "data.patch_size=16", "data.max_images=64", "train.steps=3", "train.batch_size=16",
           "train.log_every=1", "train.sample_every=3", "train.num_samples=4",
           "train.progress=false"]
    Trainer(load_config(None, cfg), tmp_path / "one").fit()
    torchrun([*config_args(tmp_path, cfg), "--run-dir", str(tmp_path / "two")], tmp_path)
    compare(tmp_path / "one", tmp_path / "two", 3, loss="restorer/loss")


@pytest.mark.slow
def test_inpainting_two_ranks_match_one_process(tmp_path):
    # no BatchNorm in the inpainting U-Net or the PatchGAN: each rank keeps its slice of the
    # global batch's masks (objectives/inpainting.py), so 2 ranks reproduce 1. Measured max
    # |diff| 2.9e-5 (Adam's normalised steps amplify rounding where a GAN's gradients are
    # near zero); masks drawn in lockstep per rank gave 3.8e-3
    cfg = ["model.name=inpaint-unet", "model.g_width=4", "model.d_width=4",
           "model.max_width=8", "model.levels=2", "data.name=digits", "data.img_size=16",
           "data.max_images=64", "train.steps=3", "train.batch_size=16", "train.log_every=1",
           "train.sample_every=3", "train.num_samples=4", "train.progress=false"]
    Trainer(load_config(None, cfg), tmp_path / "one").fit()
    torchrun([*config_args(tmp_path, cfg), "--run-dir", str(tmp_path / "two")], tmp_path)
    compare(tmp_path / "one", tmp_path / "two", 3, loss="g/loss", atol=2e-4)
