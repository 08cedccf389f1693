"""Test-set numbers of a trained VAE run, as a Markdown table, plus sample/reconstruction grids.

    PYTHONPATH=src python bench/vae_numbers.py RUN [--num 10000] [--iw-num 500] [--k 100]
        [--grids docs/images/PREFIX]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from pixelsmith.data.base import load_dataset
from pixelsmith.generate import generate, load_model, write_images
from pixelsmith.generate.reconstruct import write_pairs
from pixelsmith.metrics.vae import iw_nll, nelbo, recon_error


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--num", type=int, default=10000, help="test images for nelbo and recon")
    ap.add_argument("--iw-num", type=int, default=500, help="test images for the IW bound")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grids", default=None, help="path prefix for -samples.png/-recon.png")
    args = ap.parse_args()

    model = load_model(args.run, device="cpu")
    test = load_dataset(replace(model.cfg.data, split="test", max_images=None))
    t0 = time.perf_counter()
    rows = nelbo(model, test, num=args.num, seed=args.seed)
    rows |= recon_error(model, test, num=args.num, seed=args.seed)
    rows |= iw_nll(model, test, k=args.k, num=args.iw_num, seed=args.seed)
    print(f"run {args.run} step {model.meta.get('step')} | test images: {min(args.num, len(test))}"
          f" (IW: {min(args.iw_num, len(test))}) | seed {args.seed} | "
          f"{time.perf_counter() - t0:.0f} s")
    print("| metric | value |\n|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {v:.4f} |")
    if args.grids:
        prefix = Path(args.grids)
        prefix.parent.mkdir(parents=True, exist_ok=True)
        if model.objective.conditional:  # one row of 8 per class
            classes = model.objective.sample_classes
            labels = torch.arange(classes).repeat_interleave(8)
        else:
            labels = None
        n = 64 if labels is None else len(labels)
        write_images(generate(model, n, seed=args.seed, labels=labels),
                     f"{prefix}-samples.png", nrow=8)
        x = test.images[:16]
        obj = model.objective
        orig = x.float().div(127.5).sub(1.0)
        c = test.labels[:16] if obj.conditional else None
        rec = obj.reconstruct(model.net, obj.prepare(orig), c).cpu()
        write_pairs(orig, rec, f"{prefix}-recon.png")
        print(f"grids: {prefix}-samples.png, {prefix}-recon.png")


if __name__ == "__main__":
    main()
