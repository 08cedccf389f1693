"""The Runs tab: what a run folder holds, as a person looks at it: its config, its loss and
metric curves (``training.plots``, from ``metrics.jsonl``; re-read on every call, so a run
that trains now shows its latest rows), its sample grids over training by step, and the
evaluation records ``pixelsmith evaluate`` appended (``metrics.evaluate.read_records``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pixelsmith.errors import PixelsmithError
from pixelsmith.ui.catalog import find_run, find_runs

GRID_NAME = re.compile(r"step_(\d+)\.png$")
RECORD_COLUMNS = ["step", "metric", "value", "sampled with", "reference", "n_fake", "features",
                  "date"]


@dataclass
class RunView:
    name: str
    summary: str  # one markdown paragraph: objective, model, data, steps done
    config_text: str  # config.yaml as written by the run
    curves: Path | None  # PNG of the curves, None before the first logged row
    steps: list[int] = field(default_factory=list)  # steps with a sample grid, ascending
    records: list[list] = field(default_factory=list)  # RECORD_COLUMNS per evaluation record


def run_names(root: str | Path) -> list[str]:
    return [e.name for e in find_runs(root)]


def sample_steps(run: Path) -> list[int]:
    """Steps at which the run saved a sample grid (``samples/step_XXXXXXX.png``)."""
    folder = run / "samples"
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := GRID_NAME.match(p.name)))


def sample_grid(root: str | Path, name: str, step: int | float | None) -> Path | None:
    """The grid saved at ``step``, or at the nearest step that has one (a slider's value
    between two saved steps); None when the run saved none."""
    run = find_run(root, name).path
    steps = sample_steps(run)
    if not steps:
        return None
    want = steps[-1] if step is None else round(float(step))
    best = min(steps, key=lambda s: (abs(s - want), s))
    return run / "samples" / f"step_{best:07d}.png"


def curves(root: str | Path, name: str, work_dir: str | Path) -> Path | None:
    """The run's curves drawn now from its ``metrics.jsonl`` into ``work_dir`` (a file per
    run, replaced on each call); None while nothing is logged."""
    from pixelsmith.training.plots import plot_curves

    run = find_run(root, name).path
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return plot_curves(run / "metrics.jsonl", Path(work_dir) / "curves" / f"{safe}.png")


def evaluation_records(run: Path) -> list[list]:
    """One row per record of ``pixelsmith evaluate`` (or evaluation during training)."""
    from pixelsmith.metrics.evaluate import read_records, sampling_label

    if not (run / "metrics.jsonl").is_file():
        return []
    rows = []
    for r in read_records(run):
        p = r.get("protocol") if isinstance(r.get("protocol"), dict) else {}
        value = r.get(r["metric"])
        rows.append([r.get("step"), r["metric"],
                     round(value, 4) if isinstance(value, (int, float)) else value,
                     sampling_label(p), p.get("reference", ""), p.get("n_fake", ""),
                     p.get("features", ""), r.get("date", "")])
    return rows


def _summary(entry, cfg_text: str, steps: list[int]) -> str:
    import yaml

    try:
        cfg = yaml.safe_load(cfg_text) or {}
    except yaml.YAMLError:
        cfg = {}
    model, data, train = (cfg.get(k) if isinstance(cfg.get(k), dict) else {}
                          for k in ("model", "data", "train"))
    ckpt = "checkpoint saved" if entry.has_checkpoint else "no checkpoint yet"
    last = f", last grid at step {steps[-1]}" if steps else ""
    what = f" ({entry.task})" if entry.task else ""
    return (f"**{entry.name}**: {entry.objective}{what}, model `{model.get('name', '?')}` on "
            f"`{data.get('name', '?')}` at {data.get('img_size', '?')} px, "
            f"{train.get('steps', '?')} steps planned; {ckpt}{last}")


def show_run(root: str | Path, name: str, work_dir: str | Path) -> RunView:
    """Everything the Runs tab shows of run ``name``."""
    entry = find_run(root, name)
    try:
        cfg_text = (entry.path / "config.yaml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PixelsmithError(f"{entry.path / 'config.yaml'}: unreadable ({e})") from None
    steps = sample_steps(entry.path)
    return RunView(name, _summary(entry, cfg_text, steps), cfg_text,
                   curves(root, name, work_dir), steps, evaluation_records(entry.path))
