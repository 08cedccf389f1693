"""What a run writes as it goes: metrics.jsonl, TensorBoard scalars and images, PNG grids."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from pixelsmith.data.transforms import to_uint8


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """Write images in [-1, 1] as one PNG grid."""
    nrow = nrow or max(1, int(len(images) ** 0.5))
    path.parent.mkdir(parents=True, exist_ok=True)
    from torchvision.utils import save_image  # torchvision costs seconds to import: only here

    save_image(to_uint8(images).float().div(255), path, nrow=nrow, padding=2, pad_value=1.0)


class RunLog:
    def __init__(self, run_dir: Path, enabled: bool = True):
        self.run_dir, self.enabled = run_dir, enabled
        self.jsonl = run_dir / "metrics.jsonl"
        self._tb = None
        self.t0 = time.time()

    @property
    def tb(self):
        if self._tb is None and self.enabled:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

            self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._tb

    def repair(self, step: int) -> str | None:
        """On resume from a checkpoint at ``step``: drop a half-written last line (what a
        kill or a full disk leaves; the next row would be glued to it) and the rows logged
        after ``step``, which the resumed run logs again. Returns a note saying what was
        dropped, or None when the file was whole."""
        if not self.enabled or not self.jsonl.is_file():
            return None
        text = self.jsonl.read_bytes()
        lines = text.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        kept, torn, later = [], 0, 0
        for i, line in enumerate(lines):
            try:
                row = json.loads(line)
            except ValueError:  # a torn line: only the last can be; keep others untouched
                if i == len(lines) - 1:
                    torn += 1
                    continue
                kept.append(line)
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step:
                later += 1
                continue
            kept.append(line)
        torn += bool(tail.strip())
        if not torn and not later:
            return None
        tmp = self.jsonl.with_name(f".{self.jsonl.name}.tmp")
        tmp.write_bytes(b"".join(line + b"\n" for line in kept))
        os.replace(tmp, self.jsonl)
        parts = ["dropped a half-written last line (left by an interrupted run)"] if torn else []
        if later:
            parts.append(f"dropped {later} row(s) logged after step {step}, the checkpoint "
                         "resumed from (they are logged again)")
        return f"{self.jsonl}: " + "; ".join(parts)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        for k, v in values.items():
            self.tb.add_scalar(k, v, step)
        row = {"step": step, "time": round(time.time() - self.t0, 3), **values}
        with self.jsonl.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def grid(self, step: int, images: torch.Tensor, tag: str = "samples") -> Path:
        path = self.run_dir / tag / f"step_{step:07d}.png"
        if self.enabled:
            save_grid(images, path)
            nrow = max(1, int(len(images) ** 0.5))
            from torchvision.utils import make_grid

            self.tb.add_image(tag, make_grid(to_uint8(images.cpu()), nrow=nrow), step)
        return path

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
