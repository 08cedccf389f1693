"""Train a config for a number of steps and print one table row: device, date, command,
steps, wall time, images/s, final losses. Copies the last sample grid and loss curves
next to the table so a run on a lent GPU brings its evidence back.

    python bench/train_run.py configs/gan/dcgan-fashion-mnist.yaml --steps 3000 \
        --set data.root=/path/to/data --out bench-out/
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

import torch

from pixelsmith.config import load_config
from pixelsmith.training import Trainer


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()

    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"train.steps={args.steps}")
    cfg = load_config(args.config, overrides)
    name = Path(args.config).stem
    run_dir = args.out / f"run-{name}"
    shutil.rmtree(run_dir, ignore_errors=True)

    trainer = Trainer(cfg, run_dir)
    t0 = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - t0
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    rates = [r["train/img_per_s"] for r in rows[len(rows) // 5 :]]  # skip warm-up rows
    result = {
        "date": datetime.date.today().isoformat(),
        "device": device_name(trainer.device),
        "torch": torch.__version__,
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "config": name,
        "steps": trainer.step,
        "batch_size": cfg.train.batch_size,
        "wall_s": round(wall, 1),
        "img_per_s": round(sorted(rates)[len(rates) // 2], 1),
        **{k: round(v, 4) for k, v in last.items() if k.endswith("/loss")},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(sorted((run_dir / "samples").glob("*.png"))[-1], args.out / f"{name}-samples.png")
    shutil.copy(run_dir / "loss_curves.png", args.out / f"{name}-loss-curves.png")
    with (args.out / "results.jsonl").open("a") as f:
        f.write(json.dumps(result) + "\n")
    keys = list(result)
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    print("| " + " | ".join(str(result[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
