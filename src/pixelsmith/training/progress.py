"""A rich progress bar for training: step, losses and images/s."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainProgress:
    def __init__(self, total: int, done: int, enabled: bool = True):
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.bar = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console, disable=not enabled, refresh_per_second=4,
        )
        self.task = self.bar.add_task("train", total=total, completed=done, stats="")
        self.total = total
        # without a terminal (CI, a log file) rich draws nothing live: print plain lines
        self.plain = enabled and not self.console.is_terminal

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def advance(self) -> None:
        self.bar.advance(self.task)

    def show(self, values: dict[str, float]) -> None:
        parts = [f"{k.split('/', 1)[0] if k.endswith('/loss') else k.split('/')[-1]}"
                 f"={v:.3g}" for k, v in values.items()
                 if k.endswith("/loss") or k == "train/img_per_s"]
        stats = " ".join(parts).replace("img_per_s", "img/s")
        self.bar.update(self.task, stats=stats)
        if self.plain:
            done = int(self.bar.tasks[0].completed)
            self.console.print(f"step {done}/{self.total} {stats}", highlight=False)
