"""A new run's folder: refused when it already holds something, unless the user says so.

A run writes ``config.yaml``, ``checkpoints/``, ``samples/`` ... into its folder and prunes
old ``step_*`` checkpoints as it goes, so starting a run in a folder that holds another one
(or a user's own files) would destroy them. ``train --resume`` continues a run;
``train --overwrite`` starts a new one in a used folder, deleting the earlier run's files
(only those: anything else there is left alone).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pixelsmith.errors import PixelsmithError

RUN_FILES = ("config.yaml", "checkpoints", "samples", "tensorboard", "metrics.jsonl",
             "reals.png", "loss_curves.png")


def _listing(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def prepare_run_dir(run_dir: Path, *, overwrite: bool = False) -> None:
    """Check (and make) the folder of a new run; one-line errors name it and the way out."""
    if run_dir.exists() and not run_dir.is_dir():
        raise PixelsmithError(f"--run-dir {run_dir} is a file; give a folder for the run")
    names = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    ours = [n for n in names if n in RUN_FILES]
    if names and not overwrite:
        if (run_dir / "checkpoints").is_dir() or (run_dir / "config.yaml").is_file():
            raise PixelsmithError(
                f"{run_dir} already holds a run; use --resume {run_dir} to continue it, "
                "another --run-dir, or --overwrite to start again there (deleting that run)")
        raise PixelsmithError(
            f"--run-dir {run_dir} is not empty ({_listing(names)}); give a new or empty "
            "folder, or --overwrite to write the run beside those files")
    for name in ours:  # --overwrite: the earlier run's files only
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".pixelsmith-write-test"
        probe.write_bytes(b"")  # a read-only place fails now, not after the data is loaded
        os.unlink(probe)
    except OSError as e:
        raise PixelsmithError(f"--run-dir {run_dir}: cannot write there ({e.strerror})"
                              ) from None
