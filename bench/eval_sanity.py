"""Sanity table for the offline metrics: real-vs-real, a trained DCGAN and an untrained one,
all on one data set's evaluator features. The ordering must be real < trained < untrained
for FID/KID (and the reverse for IS, precision, recall).

    PYTHONPATH=src python bench/eval_sanity.py --config configs/gan/dcgan-digits.yaml \
        --steps 1000 --num 1500

Needs the data set's evaluator (``pixelsmith evaluator train``); prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import pixelsmith.components  # noqa: F401
import pixelsmith.metrics  # noqa: F401
from pixelsmith.config import load_config
from pixelsmith.metrics import math as M
from pixelsmith.metrics.evaluate import evaluate, make_extractor, reference_data
from pixelsmith.training import Trainer

SHOW = ("fid", "kid", "is", "precision", "recall")


def real_vs_real(cfg, num: int) -> dict[str, float]:
    """Training images (first ``num``) scored against the reference split, like a generator."""
    from dataclasses import replace

    from pixelsmith.data.base import load_dataset

    ref, _ = reference_data(cfg.data)
    train = load_dataset(replace(cfg.data, split="train", max_images=num))
    ex = make_extractor("evaluator", cfg.data)
    fr, _ = ex(ref.images[:num])
    ff, pf = ex(train.images)
    kid, _ = M.kid_from_features(fr, ff, subset_size=1000)
    p, r = M.precision_recall(fr, ff)
    return {"fid": M.fid_from_features(fr, ff), "kid": kid,
            "is": M.inception_score(pf)[0], "precision": p, "recall": r}


def run_row(cfg, steps: int, num: int, root: Path, data_root: str | None) -> dict[str, float]:
    run = root / f"steps{steps}"
    cfg.train.steps, cfg.train.checkpoint_every, cfg.train.progress = steps, 0, False
    Trainer(cfg, run).fit()
    recs = evaluate(run, ["fid", "kid", "is", "pr"], num=num, data_root=data_root, device="cpu")
    out = {}
    for r in recs:
        short = r["metric"].split("@")[0].rstrip("0123456789k")
        if not r["metric"].endswith("_std"):
            out[short] = r[r["metric"]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/gan/dcgan-digits.yaml")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--num", type=int, default=1500)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = load_config(args.config, args.set)
    t0 = time.time()
    rows = {"real train vs reference": real_vs_real(cfg, args.num)}
    with tempfile.TemporaryDirectory() as tmp:
        rows[f"DCGAN, {args.steps} steps"] = run_row(cfg, args.steps, args.num, Path(tmp),
                                                     cfg.data.root)
        cfg = load_config(args.config, args.set)
        rows["DCGAN, untrained"] = run_row(cfg, 0, args.num, Path(tmp), cfg.data.root)
    import datetime
    import platform
    import sys

    cpu = platform.processor() or platform.machine()
    print(f"date {datetime.date.today()}, device cpu ({cpu}, {torch.get_num_threads()} threads), "
          f"command: python {' '.join(sys.argv)}")
    print(f"| {cfg.data.name} evaluator features, n={args.num} | " + " | ".join(SHOW) + " |")
    print("|---" * (len(SHOW) + 1) + "|")
    for name, v in rows.items():
        print(f"| {name} | " + " | ".join(f"{v[k]:.4f}" for k in SHOW) + " |")
    print(f"({time.time() - t0:.0f} s, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
