"""The truncation trade-off of a trained GAN (BigGAN, Brock et al. 2019, figure 4): FID and
precision / recall of its samples as z is drawn from N(0, 1) cut to [-t, t], for a range
of t. Smaller t: cleaner, more typical images (precision up) and less variety (recall
down); FID first improves, then worsens. Prints a Markdown table, writes the records
(one JSON line per number, the protocol and the truncation included) and a plot.

    PYTHONPATH=src python bench/truncation_curve.py RUN --num 10000 \
        --truncations 0,2,1.5,1,0.75,0.5,0.25 --out docs/images/biggan-truncation

t = 0 means no truncation (plain N(0, 1)). The features are the data set's evaluator
(``pixelsmith evaluator train --dataset NAME`` once) unless --features inception.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

import torch

from pixelsmith.devices import describe_device, resolve_device
from pixelsmith.errors import PixelsmithError, run_script
from pixelsmith.generate.loading import load_model, truncation_overrides
from pixelsmith.metrics.base import EvalContext
from pixelsmith.metrics.evaluate import (
    checkpoint_sha256,
    make_extractor,
    metrics_cache_dir,
    reference_data,
    run_metrics,
)


def curve(run: str, truncations: list[float], *, num: int, seed: int, metrics: list[str],
          features: str, device: str, data_root: str | None = None,
          evaluator: str | None = None) -> list[dict]:
    """One record per metric and truncation value (``protocol.truncation``: 0 = none)."""
    base = load_model(run, device=device)
    if not hasattr(base.cfg.objective, "truncation"):
        raise PixelsmithError(f"{base.path}: model '{base.cfg.model.name}' is not a GAN; the "
                              "truncation trick applies to GAN generators")
    dev = next(base.net.parameters()).device
    real, ref = reference_data(base.cfg.data, data_root, num)
    ex = make_extractor(features, base.cfg.data, evaluator=evaluator, device=dev)
    records = []
    for t in truncations:
        model = load_model(run, device=device,
                           overrides=truncation_overrides(t) if t > 0 else [])
        ctx = EvalContext(model=model, real=real, num=num, seed=seed, device=dev,
                          cache_dir=metrics_cache_dir(), extractor=ex, reference=ref)
        # each record's protocol holds its truncation (0: none), as evaluate's do
        records += run_metrics(ctx, metrics, step=model.meta.get("step"),
                               ckpt_sha=checkpoint_sha256(model.path))
    return records


def table(records: list[dict]) -> tuple[list[str], list[list]]:
    names = list(dict.fromkeys(r["metric"] for r in records))
    rows: dict[float, dict] = {}
    for r in records:
        rows.setdefault(r["protocol"]["truncation"], {})[r["metric"]] = r[r["metric"]]
    return names, [[t, *(v.get(n) for n in names)] for t, v in rows.items()]


def plot(names: list[str], rows: list[list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cut = [r for r in rows if r[0] > 0]  # t = 0 (none) is drawn as a dashed line
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[0], names)):
        ax.plot([r[0] for r in cut], [r[1 + i] for r in cut], "o-")
        none = [r[1 + i] for r in rows if r[0] == 0]
        if none:
            ax.axhline(none[0], ls="--", c="gray", label="no truncation")
            ax.legend(fontsize=8)
        ax.set_xlabel("truncation threshold t")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--truncations", default="0,2,1.5,1,0.75,0.5,0.25")
    ap.add_argument("--num", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metrics", default="fid,pr")
    ap.add_argument("--features", default="evaluator")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--evaluator", default=None, help="evaluator folder (default: the cache)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="path prefix for .jsonl and .png")
    args = ap.parse_args()
    try:
        ts = [float(t) for t in args.truncations.split(",")]
    except ValueError:
        raise PixelsmithError(f"--truncations must be numbers, got {args.truncations}") from None
    if any(t < 0 for t in ts):
        raise PixelsmithError(f"--truncations must be >= 0 (0: none), got {args.truncations}")
    records = curve(args.run, ts, num=args.num, seed=args.seed, features=args.features,
                    metrics=[m for m in args.metrics.split(",") if m], device=args.device,
                    data_root=args.data_root, evaluator=args.evaluator)
    names, rows = table(records)
    step = records[0]["step"] if records else "?"
    print(f"{datetime.date.today()} | {describe_device(resolve_device(args.device))} | torch "
          f"{torch.__version__} | {args.run} step {step}, {args.num} samples, seed {args.seed}")
    print("$ " + shlex.join(["python", *sys.argv]) + "\n")
    print("| truncation | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for t, *values in rows:
        print(f"| {'none' if t == 0 else t} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        plot(names, rows, out.with_suffix(".png"))
        print(f"wrote {out.with_suffix('.jsonl')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    run_script(main)
