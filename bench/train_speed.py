"""Time pixelsmith's training step against a straightforward PyTorch loop of the same model
(bench/reference_loops.py) in one process on one device, and print a table.

    PYTHONPATH=src python bench/train_speed.py                 # GPU: full-size configs
    PYTHONPATH=src python bench/train_speed.py --quick         # CPU, narrow nets, < 2 min
    PYTHONPATH=src python bench/train_speed.py --compile --out speed.md

A "step" is one generator step: n_critic D steps plus one G step for the GANs, one update for
the VAE. images/s counts real images drawn per second (n_critic batches a GAN step). Both
sides run the same networks at the same batch size; the data are the embedded digits at
32 px RGB (no download; the content does not change the speed).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import pixelsmith.models  # noqa: F401 - registers the models
from pixelsmith.config import load_config
from pixelsmith.data.base import load_dataset
from pixelsmith.registry import MODELS
from pixelsmith.training import Trainer
from reference_loops import ReferenceLoop

DATA = ["data.name=digits", "data.root=null", "data.img_size=32", "data.img_channels=3"]
# (name, config file, overrides for the full run, extra overrides for --quick on a CPU)
CASES = [
    ("DCGAN 32px", "configs/gan/dcgan-cifar10.yaml", [],
     ["model.g_width=16", "model.d_width=16", "train.batch_size=32"]),
    ("SNGAN ResNet 32px n_critic 5", "configs/gan/sngan-cifar10.yaml", [],
     ["model.g_width=32", "model.d_width=32", "train.batch_size=16"]),
    ("WGAN-GP ResNet 32px", "configs/gan/wgan-gp-cifar10.yaml", [],
     ["model.g_width=32", "model.d_width=32", "train.batch_size=16"]),
    ("VAE 32px", "configs/vae/vae-cifar10.yaml", [],
     ["model.width=16", "train.batch_size=32"]),
    ("DnCNN-17 40px patches", "configs/restoration/dncnn-gray-s25.yaml",
     ["data.img_size=48", "data.img_channels=1", "data.patch_size=40"],
     ["model.depth=6", "model.width=16", "train.batch_size=16"]),
]


@dataclass
class Timing:
    ms_per_step: float
    img_per_s: float
    peak_mb: float | None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, device: torch.device, steps: int, images_per_step: int, finish=lambda: None,
          base_mb: float = 0.0) -> Timing:
    finish()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    finish()  # pixelsmith: the one host sync of a log row, inside the timed span
    sync(device)
    dt = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated(device) / 2**20 - base_mb
            if device.type == "cuda" else None)
    return Timing(1000 * dt / steps, images_per_step * steps / dt, peak)


def allocated_mb(device: torch.device) -> float:
    return torch.cuda.memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0


def run_case(path: str, overrides: list[str], args) -> tuple[Timing, Timing]:
    """Both loops in one process, timed in alternating rounds (ours, ref, ours, ref, ...):
    the best round of each counts, so a busy neighbour slows both alike, not one of them.
    Peak memory of the reference is counted above what pixelsmith's side already holds."""
    cfg = load_config(Path(path), [*DATA, *overrides, f"train.device={args.device}",
                                   "train.progress=false", "train.ema_decay=0"])
    device = torch.device("cuda" if args.device in ("auto", "cuda") and
                          torch.cuda.is_available() else args.device.replace("auto", "cpu"))
    n_critic = getattr(cfg.objective, "n_critic", 1) if cfg.objective.name == "gan" else 1
    per_step = cfg.train.batch_size * n_critic
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp)
        for _ in range(args.warmup):
            trainer.train_step()
        ours = [timed(trainer.train_step, device, args.steps, per_step,
                      finish=trainer._flush_losses)]
        base = allocated_mb(device)
        ref = ReferenceLoop(cfg, load_dataset(cfg.data).images, device, workers=args.workers)
        for _ in range(args.warmup):
            ref.step()
        theirs = [timed(ref.step, device, args.steps, per_step, base_mb=base)]
        for _ in range(args.rounds - 1):
            ours.append(timed(trainer.train_step, device, args.steps, per_step,
                              finish=trainer._flush_losses))
            theirs.append(timed(ref.step, device, args.steps, per_step, base_mb=base))

    def best(ts: list[Timing]) -> Timing:
        fastest = min(ts, key=lambda t: t.ms_per_step)
        return Timing(fastest.ms_per_step, fastest.img_per_s, ts[0].peak_mb)

    return best(ours), best(theirs)


def device_name(args) -> str:
    if torch.cuda.is_available() and args.device != "cpu":
        return torch.cuda.get_device_name()
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CPU, narrow nets, few steps")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per config")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None, help="alternating timed rounds")
    ap.add_argument("--workers", type=int, default=None, help="reference DataLoader workers")
    ap.add_argument("--compile", action="store_true", help="pixelsmith side: train.compile")
    ap.add_argument("--set", action="append", default=[], dest="overrides",
                    help="extra override for the pixelsmith side, e.g. train.precision=fp32")
    ap.add_argument("--only", default="", help="comma-separated case names (substring match)")
    ap.add_argument("--out", type=Path, default=None, help="also write the table here (.md)")
    args = ap.parse_args()
    if args.quick:
        args.device = "cpu" if args.device == "auto" else args.device
    gpu = args.device != "cpu" and torch.cuda.is_available()
    args.steps = args.steps or (3 if args.quick else 50)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 10)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.workers = args.workers if args.workers is not None else (2 if gpu else 0)
    fast = ["train.channels_last=true"] if gpu else []
    fast += ["train.compile=true"] if args.compile else []

    rows = []
    for name, path, full, quick in CASES:
        if args.only and not any(s.strip().lower() in name.lower()
                                 for s in args.only.split(",")):
            continue
        if name.startswith("DnCNN") and "dncnn" not in MODELS:
            print(f"skipped {name}: no model 'dncnn' registered in this checkout", flush=True)
            continue
        overrides = [*full, *(quick if args.quick else [])]
        ours, ref = run_case(path, [*overrides, *fast, *args.overrides], args)
        rows.append((name, ours, ref))
        print(f"{name}: pixelsmith {ours.ms_per_step:.1f} ms/step, reference "
              f"{ref.ms_per_step:.1f} ms/step", flush=True)

    def mb(t: Timing) -> str:
        return "-" if t.peak_mb is None else f"{t.peak_mb:.0f}"

    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    lines = [
        f"device: {device_name(args)}; date: {datetime.date.today()}; "
        f"torch {torch.__version__}; best of {args.rounds} alternating rounds of "
        f"{args.steps} steps each, after {args.warmup} warm-up",
        f"command: `{cmd}`", "",
        "| config | pixelsmith img/s | reference img/s | pixelsmith ms/G step | "
        "reference ms/G step | peak GPU MB (ours / ref) | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, ours, ref in rows:
        lines.append(f"| {name} | {ours.img_per_s:.0f} | {ref.img_per_s:.0f} | "
                     f"{ours.ms_per_step:.1f} | {ref.ms_per_step:.1f} | {mb(ours)} / {mb(ref)} "
                     f"| {ref.ms_per_step / ours.ms_per_step:.2f}x |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
