"""Loss and metric curves from metrics.jsonl, as one PNG a person can glance at."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path


def read_metrics(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    if not path.is_file():
        return {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # the half-written last line of a run that is training now
            continue
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            continue
        for k, v in row.items():
            if k not in ("step", "time") and isinstance(v, (int, float)):
                series[k][0].append(row["step"])
                series[k][1].append(v)
    return dict(series)


def plot_curves(metrics_path: Path, out: Path) -> Path | None:
    series = read_metrics(metrics_path)
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[str]] = defaultdict(list)  # one panel per phase / metric group
    for k in series:
        groups[k.split("/", 1)[0]].append(k)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.2), squeeze=False)
    for ax, (group, keys) in zip(axes[0], groups.items()):
        for k in keys:
            ax.plot(*series[k], label=k.split("/", 1)[-1])
        ax.set_title(group)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
