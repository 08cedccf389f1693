"""Kill -9 drill: a real training process is killed at chosen moments (in the middle of a
checkpoint write, between the checkpoint's rename and the pointer switch, half-way through a
metrics.jsonl line) and at a moment chosen by the clock; every ``train --resume`` must go on
from the newest checkpoint ``last.json`` names (never an older one), leave metrics.jsonl
parseable line by line, and end with the very weights and logged losses of a straight run
(CPU, bitwise).

Marked slow (about a minute on 2 cores); the README's test command runs it after the fast
suite, so CI (.ci/run) does too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.drill

SRC = Path(__file__).parents[1] / "src"
STEPS = 12
CONFIG = f"""\
data: {{name: digits, img_size: 16, max_images: 64}}
model: {{z_dim: 8, g_width: 8, d_width: 8}}
train:
  steps: {STEPS}
  batch_size: 16
  log_every: 1
  sample_every: 0
  checkpoint_every: 3
  num_samples: 4
  progress: false
"""
# runs `pixelsmith ARGS` with a SIGKILL armed at one moment (KILL_AT=what:n)
DRIVER = """
import os, signal, sys
import pixelsmith.training.checkpoint as ck
import pixelsmith.training.run_log as rl

what, n = os.environ["KILL_AT"].split(":")
n, calls = int(n), []

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if what == "weights-written":  # the n-th checkpoint: weights in its temporary folder
    save = ck.save_file
    def save_file(*a, **k):
        save(*a, **k)
        calls.append(1)
        if len(calls) == n:
            die()
    ck.save_file = save_file
elif what == "renamed":  # the n-th checkpoint renamed into place, last.json not yet moved
    rename = os.rename
    def renamed(src, dst):
        rename(src, dst)
        if os.path.basename(str(src)).startswith(".step_"):
            calls.append(1)
            if len(calls) == n:
                die()
    ck.os.rename = renamed
elif what == "half-a-line":  # the row of step n: half written, then killed
    scalars = rl.RunLog.scalars
    def torn(self, step, values):
        if step == n:
            with self.jsonl.open("a") as f:
                f.write('{"step": %d, "d/lo' % step)
            die()
        scalars(self, step, values)
    rl.RunLog.scalars = torn

from pixelsmith.cli import main
sys.argv = ["pixelsmith", *sys.argv[1:]]
main()
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}


def pixelsmith(*args, kill_at: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", DRIVER] if kill_at else [sys.executable, "-m", "pixelsmith"]
    env = {**_env(), **({"KILL_AT": kill_at} if kill_at else {})}
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


def last_step(run: Path) -> int:
    return json.loads((run / "checkpoints" / "last.json").read_text())["step"]


def rows(run: Path, *, torn_tail_ok: bool = False) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().split("\n")
    tail = lines.pop()
    assert torn_tail_ok or tail == "", f"metrics.jsonl ends in a torn line: {tail!r}"
    return [json.loads(x) for x in lines]  # every whole line parses


def resume(run: Path, expect_step: int) -> str:
    proc = pixelsmith("train", "--resume", run)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # the newest checkpoint, never an older one
    assert f"resuming {run} from step {expect_step}" in proc.stderr, proc.stderr
    rows(run)
    return proc.stderr


def killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_killed_at_any_moment_resumes_to_the_straight_runs_weights(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    straight, run = tmp_path / "straight", tmp_path / "run"
    assert pixelsmith("train", config, "--run-dir", straight).returncode == 0

    # 1. in the middle of the 2nd checkpoint's write (step 6): step 3 stays the newest
    killed(pixelsmith("train", config, "--run-dir", run, kill_at="weights-written:2"))
    assert last_step(run) == 3 and (run / "checkpoints" / ".step_0000006.tmp").is_dir()
    # 2. resumed, killed after step 6 was renamed into place but before last.json moved
    killed(pixelsmith("train", "--resume", run, kill_at="renamed:1"))
    assert last_step(run) == 3 and (run / "checkpoints" / "step_0000006").is_dir()
    rows(run)
    # 3. resumed, killed half-way through the row of step 8 (after the checkpoint of 6)
    killed(pixelsmith("train", "--resume", run, kill_at="half-a-line:8"))
    assert last_step(run) == 6
    rows(run, torn_tail_ok=True)
    # 4. resumed (the torn line and rows after step 6 dropped, with a note), then killed
    #    from outside once it logged step 10, wherever it is then
    proc = subprocess.Popen([sys.executable, "-m", "pixelsmith", "train", "--resume", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=_env())
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 240 and proc.poll() is None:
            steps = [r["step"] for r in rows(run, torn_tail_ok=True)]
            if steps and steps[-1] >= 10:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert f"resuming {run} from step 6" in err and "dropped a half-written last line" in err
    newest = last_step(run)
    assert newest in (9, 12)
    # 5. resumed to the end, from the newest checkpoint
    resume(run, newest)

    assert last_step(run) == STEPS
    assert not list((run / "checkpoints").glob(".*.tmp")), "a killed write was left behind"
    a = load_file(straight / "checkpoints" / f"step_{STEPS:07d}" / "model.safetensors")
    b = load_file(run / "checkpoints" / f"step_{STEPS:07d}" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def losses(r):
        return [{k: v for k, v in x.items() if k not in ("time", "train/img_per_s")}
                for x in rows(r)]

    assert losses(run) == losses(straight)  # each step logged once, the same numbers
