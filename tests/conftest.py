"""Fixtures shared by all tests: where the real data sets are, and a private cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``../shared/data`` beside the repo, or ``$PIXELSMITH_TEST_DATA``)."""
    env = os.environ.get("PIXELSMITH_TEST_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data sets not found at {path} (set PIXELSMITH_TEST_DATA to the folder "
                    "holding MNIST/, FashionMNIST/, cifar10/)")
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
