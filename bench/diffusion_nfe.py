"""Quality against sampling cost of a trained diffusion run: every sampler at every number
of network evaluations (NFE), scored by the evaluate protocol (FID / KID / precision /
recall on the data set's evaluator features, class accuracy for conditional models), and
optionally other runs (GANs, VAEs) scored the same way beside it. Prints a Markdown table
with date, device and command, writes the rows as JSON lines and a plot of FID vs NFE.

    PYTHONPATH=src python bench/diffusion_nfe.py RUN --num 10000 \\
        --samplers ddim,ddpm,heun,dpm-solver-2m --nfe 10,20,50,100 \\
        --compare runs/dcgan-fmnist-cpu runs/vae-fmnist-cpu \\
        --plot docs/images/diffusion-fid-vs-nfe.png --grids docs/images/diffusion-fmnist

Steps per sampler are the most whose NFE fits (heun: N steps cost 2N - 2 calls, so
NFE 10 is 6 steps); the NFE column is what was spent. The evaluator must exist
(`pixelsmith evaluator train --dataset fashion-mnist`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shlex
import sys
import time
from numbers import Integral, Real
from pathlib import Path

import torch

from pixelsmith.devices import PRECISIONS, describe_device
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import generate, load_model, write_images
from pixelsmith.generate.loading import run_or_packaged, sampling_settings
from pixelsmith.generate.sampler_options import sampler_overrides
from pixelsmith.metrics.base import EvalContext
from pixelsmith.metrics.evaluate import (
    make_extractor,
    metrics_cache_dir,
    reference_data,
    run_metrics,
)
from pixelsmith.objectives.diffusion_samplers import steps_for_nfe
from pixelsmith.registry import SAMPLERS

SHORT = {"fid": "FID", "kid": "KID", "precision": "precision", "recall": "recall",
         "acc": "class acc"}


def score(model, metrics: list[str], args, reference) -> dict[str, float]:
    """{short metric name: value} for a loaded model under the evaluate protocol."""
    dev = next(model.net.parameters()).device
    ex = make_extractor("evaluator", model.cfg.data, evaluator=args.evaluator, device=dev)
    ctx = EvalContext(model=model, real=reference[0], num=args.num, seed=args.seed, device=dev,
                      batch_size=args.batch_size, cache_dir=metrics_cache_dir(), extractor=ex,
                      reference=reference[1])
    out = {}
    for r in run_metrics(ctx, metrics, step=model.meta.get("step")):
        if r["metric"].endswith("_std"):
            continue
        # fid10k@fashion-mnist-evaluator -> fid (the protocol is in the table's header)
        out[re.sub(r"\d+k?$", "", re.split(r"[@\[]", r["metric"])[0])] = r[r["metric"]]
    return out


def metrics_for(model) -> list[str]:
    return ["fid", "kid", "pr"] + (["acc"] if model.objective.sample_classes else [])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", help="a diffusion run folder or checkpoint")
    ap.add_argument("--model", default=None, help="a packaged diffusion model instead of a run "
                    "(pixelsmith models), e.g. ddpm-fashion-mnist")
    ap.add_argument("--samplers", default="ddim,ddpm,heun,dpm-solver-2m")
    ap.add_argument("--nfe", default="10,20,50,100")
    ap.add_argument("--num", type=int, default=10000, help="generated and reference images "
                    "(with --from-json: the count of rows that do not record theirs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--guidance", type=float, default=None, help="conditional models")
    ap.add_argument("--compare", nargs="*", default=[], help="other runs, scored the same way "
                    "(a name that is no folder: a packaged model, e.g. dcgan-fashion-mnist)")
    ap.add_argument("--evaluator", default=None, help="evaluator file (default: the cached one)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="fp32", choices=PRECISIONS,
                    help="the denoiser's arithmetic while sampling (objective.sample_precision)")
    ap.add_argument("--json", type=Path, default=None, help="append each row here as it is scored")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="sample nothing: print the table and draw the plot of the rows in this "
                         "file (rows of several runs of this script; the last of a repeat wins)")
    ap.add_argument("--plot", type=Path, default=None, help="FID vs NFE PNG")
    ap.add_argument("--grids", default=None, help="path prefix: one 8x8 grid per sampler at "
                                                  "the largest NFE")
    args = ap.parse_args(argv)
    command = shlex.join(sys.argv if argv is None else ["bench/diffusion_nfe.py", *argv])
    if args.from_json:
        rows = read_rows(args.from_json, args.num)
        print(f"{len(rows)} rows of {args.from_json} | `{command}`")
        report(rows, args.plot, rows[0]["num"] if rows else args.num)
        return
    source, label = opened(args.run, args.model)
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    nfes = [int(n) for n in args.nfe.split(",")]
    for s in samplers:
        SAMPLERS.entry(s)  # an unknown name fails before any work
    others = [opened(run, None) if Path(run).exists() else opened(None, run, "--compare")
              for run in args.compare]

    base = load_model(source, device=args.device)
    if base.cfg.objective.name != "diffusion":
        sys.exit(f"{label}: not a diffusion run (objective {base.cfg.objective.name})")
    reference = reference_data(base.cfg.data, None, args.num)
    device = next(base.net.parameters()).device
    print(f"{datetime.date.today()} | {describe_device(device)} | torch {torch.__version__} | "
          f"{label} step {base.meta.get('step')} | {args.num} samples vs "
          f"{reference[1]} | `{command}`", flush=True)
    rows = []
    for name in samplers:
        for nfe in nfes:
            steps = steps_for_nfe(name, nfe)
            over = sampler_overrides(name, steps, args.guidance, precision=args.precision)
            model = load_model(source, device=args.device, overrides=over)
            t0 = time.perf_counter()
            values = score(model, metrics_for(model), args, reference)
            rows.append({"model": "diffusion", "source": label, "sampler": name, "steps": steps,
                         "nfe": SAMPLERS.get(name).nfe(steps), "num": args.num,
                         "dtype": sampling_settings(model)["sample_precision"],
                         "seconds": time.perf_counter() - t0, **values})
            emit(rows[-1], args.json)
            if args.grids and nfe == max(nfes):
                out = Path(f"{args.grids}-{name}-{steps}steps.png")
                out.parent.mkdir(parents=True, exist_ok=True)
                write_images(generate(model, 64, seed=args.seed), out, nrow=8)
    for other, other_label in others:
        model = load_model(other, device=args.device)
        t0 = time.perf_counter()
        values = score(model, metrics_for(model), args, reference)
        rows.append({"model": f"{model.cfg.model.name} ({other_label})", "sampler": "-",
                     "steps": "-",
                     "nfe": 1, "num": args.num, "seconds": time.perf_counter() - t0, **values})
        emit(rows[-1], args.json)
    report(rows, args.plot, args.num)


def opened(run: str | None, model: str | None, what: str = ""):
    """(what load_model takes, its label): the run folder or checkpoint given, or the
    packaged generator ``model`` (weights checked against the manifest's hash), labelled
    "packaged NAME". ``what``: the option that named a packaged model, for the error."""
    try:
        return run_or_packaged(run, model), run or f"packaged {model}"
    except PixelsmithError as e:
        sys.exit(f"{what} {model}: no such run folder, and {e}" if what else str(e))


def emit(row: dict, path: Path | None) -> None:
    """Print a scored row and append it to the JSON lines file at once, so an interrupted
    sweep keeps what it measured."""
    print(json.dumps(row), flush=True)
    if path:
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def read_rows(path: Path, num: int) -> list[dict]:
    """Rows of a JSON lines file, one per (model, sampler, dtype, NFE): the last repeat wins.
    A row without its sample count (written before rows recorded it) counts as ``num``."""
    if not path.is_file():
        sys.exit(f"{path}: no such file")
    rows: dict[tuple, dict] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{i}: not a JSON row ({e.msg})")
            rows[(r["model"], series(r), r["nfe"])] = {"num": num, **r}
    nums = sorted({r["num"] for r in rows.values()})
    if len(nums) > 1:  # FID depends on the sample count: such rows are not comparable
        sys.exit(f"{path}: rows of {' and '.join(map(str, nums))} samples; a table compares "
                 "one sample count (keep each in its own file)")
    return sorted(rows.values(), key=lambda r: (r["sampler"] == "-", series(r), r["nfe"]))


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table, floats to 4 significant digits (this script's and zoo_package's)."""
    def cell(v) -> str:  # numpy's floats too; ints (steps, NFE, samples) as they are
        return f"{v:.4g}" if isinstance(v, Real) and not isinstance(v, Integral) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]) + "\n"


def run_label(row: dict) -> str:
    """A compared run's name on the plot: its folder ("sngan-fmnist-cpu"), which says more
    than its network's ("resnet"); rows are "NETWORK (RUN)", RUN a run or checkpoint."""
    model = row["model"]
    if not model.endswith(")"):
        return model
    inner = model[model.index("(") + 1:-1]
    if inner.startswith("packaged "):  # "dcgan (packaged dcgan-fashion-mnist)"
        return f"{inner.removeprefix('packaged ')} (packaged)"
    path = Path(inner).resolve()
    if path.parent.name == "checkpoints":  # RUN/checkpoints/step_N: the run, at that step
        return f"{path.parent.parent.name} {path.name}"
    return path.name


def series(row: dict) -> str:
    """A row's sampler, marked when its denoiser ran in bf16 (rows without a dtype: fp32)."""
    return row["sampler"] + (" (bf16)" if row.get("dtype") == "bf16" else "")


def report(rows: list[dict], plot: Path | None, num: int) -> None:
    """The Markdown table of the rows and, with a path, their FID-vs-NFE plot."""
    keys = [k for k in SHORT if any(k in r for r in rows)]
    print("\n" + markdown_table(
        ["model", "sampler", "steps", "NFE", "samples", *(SHORT[k] for k in keys), "time (s)"],
        [[r["model"], series(r), r["steps"], r["nfe"], r["num"],
          *(r.get(k, "-") for k in keys), round(r["seconds"])] for r in rows]), end="")
    for name in dict.fromkeys(series(r) for r in rows):
        fid = {r["nfe"]: r["fid"] for r in rows if series(r) == name and "fid" in r}
        if 20 in fid and 100 in fid:
            gap = fid[20] / fid[100] - 1
            print(f"{name}: FID at NFE 20 is {100 * gap:+.1f} % of NFE 100's "
                  f"({'within' if abs(gap) <= 0.10 else 'outside'} 10 %)")
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        samplers = list(dict.fromkeys(series(r) for r in rows if r["sampler"] != "-"))
        nfes = sorted({r["nfe"] for r in rows if r["sampler"] != "-"})
        for name in samplers:
            pts = [(r["nfe"], r["fid"]) for r in rows if series(r) == name and "fid" in r]
            ax.plot(*zip(*pts), marker="o", label=name)
        for r in rows:
            if r["sampler"] == "-" and "fid" in r:
                ax.axhline(r["fid"], linestyle="--", color="gray", linewidth=1)
                ax.annotate(run_label(r), (max(nfes), r["fid"]), fontsize=8,
                            ha="right", va="bottom")
        ax.set_xscale("log")
        ax.set_xticks(nfes, [str(n) for n in nfes])
        ax.minorticks_off()
        ax.set_xlabel("network evaluations (NFE)")
        ax.set_ylabel(f"FID ({num} samples, evaluator features)")
        ax.legend()
        ax.grid(alpha=0.3)
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(plot, dpi=120)
        print(f"wrote {plot}")


if __name__ == "__main__":
    main()
