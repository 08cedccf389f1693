"""Fixtures shared by all tests: where the real data sets are, a private cache, and tiny
runs trained once per session.

The real data sets are found the way pixelsmith finds a user's: through the data root,
``$PIXELSMITH_DATA``. When it is not set and a data folder lies beside the checkout
(``../shared/data``; ``.ci/run`` sets the variable the same way), it is used. Tests that
need real data skip with the reason when there is none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_BESIDE = Path(__file__).resolve().parents[2] / "shared" / "data"
if not os.environ.get("PIXELSMITH_DATA") and _BESIDE.is_dir():
    os.environ["PIXELSMITH_DATA"] = str(_BESIDE)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The data root holding the real data sets (MNIST/, FashionMNIST/, cifar10/, restoration/)."""
    env = os.environ.get("PIXELSMITH_DATA")
    path = Path(env) if env else None
    if path is None or not path.is_dir():
        pytest.skip(f"real data sets not found (PIXELSMITH_DATA={env!r}); set PIXELSMITH_DATA "
                    "to the folder holding MNIST/, FashionMNIST/, cifar10/, restoration/")
    return path


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pixelsmith-cache")


@pytest.fixture(autouse=True)
def isolated_cache(_session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes caches into one temp folder, never into the repo or the home folder.

    Shared by the session so MNIST is unpacked once, not once per test.
    """
    monkeypatch.setenv("PIXELSMITH_CACHE", str(_session_cache))
    return _session_cache


def _run_cli(*args, cwd=None, ok: bool = True, env: dict | None = None, timeout: int = 300
             ) -> subprocess.CompletedProcess:
    """``python -m pixelsmith ARGS`` in a new process, as a user runs it; with ``ok`` a
    non-zero exit fails the test with the command's output."""
    full_env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"),
                **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "pixelsmith", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    if ok and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def cli():
    """Run the real command line: ``cli("sample", run, "--num", 4)`` -> CompletedProcess."""
    return _run_cli


@pytest.fixture(scope="session")
def tiny_gan_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny DCGAN (tests/helpers.py's TINY) trained 2 steps on the embedded digits, once
    per session, for tests that only read a run. Tests that damage files copy it first."""
    from helpers import tiny_config
    from pixelsmith.training import Trainer

    run = tmp_path_factory.mktemp("tiny-gan") / "run"
    Trainer(tiny_config("train.steps=2"), run).fit()
    return run
