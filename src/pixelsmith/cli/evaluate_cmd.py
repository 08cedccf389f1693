from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt
from pixelsmith.errors import PixelsmithError


def evaluate(
    runs: list[Path] = typer.Argument(..., help="run or checkpoint (several with --compare)"),
    metrics: str = typer.Option("fid,kid,is,pr", "--metrics", "-m",
                                help="comma-separated registered metrics (pixelsmith list)"),
    num: int = typer.Option(10000, "--num", "-n", help="generated images (and reference ones)"),
    seed: int = typer.Option(0, "--seed"),
    data_root: str = typer.Option(None, "--data-root", help="folder of the reference data set"),
    features: str = typer.Option("evaluator", "--features", help="evaluator or inception"),
    evaluator: Path = typer.Option(None, "--evaluator", help="evaluator folder (default: cache)"),
    inception: Path = typer.Option(None, "--inception", help="pt_inception-...pth file"),
    truncation: float = typer.Option(
        None, "--truncation", help="GANs: score samples drawn with z cut to [-t, t]"),
    sampler: opt.Sampler = None,
    steps: opt.Steps = None,
    guidance: opt.Guidance = None,
    eta: opt.Eta = None,
    precision: opt.Precision = None,
    no_ema: opt.NoEma = False,
    no_uint8: bool = typer.Option(False, "--no-uint8", help="skip uint8 rounding of samples"),
    device: opt.Device = "auto",
    compare: bool = typer.Option(False, "--compare", help="print runs' recorded metrics side "
                                                          "by side; computes nothing"),
) -> None:
    """Score a generator (FID, KID, IS, precision/recall...) and record the protocol."""
    from rich.console import Console
    from rich.table import Table

    from pixelsmith.generate.loading import SAMPLING_OPTIONS, truncation_overrides
    from pixelsmith.generate.sampler_options import sampler_overrides
    from pixelsmith.metrics import evaluate as E
    from pixelsmith.training.checkpoint import resolve_checkpoint

    console = Console()
    if compare:
        names, table = E.compare_table(runs)
        out = Table(title="recorded metrics (latest of each)", title_justify="left")
        out.add_column("metric")
        for run in table:
            out.add_column(str(run), justify="right")
        for n in names:
            out.add_row(n, *(_cell(*table[r][n]) if n in table[r] else "-" for r in table))
        console.print(out)
        return
    if len(runs) != 1:
        raise PixelsmithError("give one RUN_OR_CHECKPOINT (or several with --compare)")
    records = E.evaluate(runs[0], [m.strip() for m in metrics.split(",") if m.strip()],
                         num=num, seed=seed, data_root=data_root, features=features,
                         evaluator=evaluator, inception=inception, device=device,
                         use_ema=not no_ema, quantize=not no_uint8,
                         overrides=truncation_overrides(truncation)
                         + sampler_overrides(sampler, steps, guidance, eta, precision))
    out = Table(title=f"{runs[0]}  (step {records[0]['step'] if records else '?'})",
                title_justify="left")
    out.add_column("metric")
    out.add_column("value", justify="right")
    for r in records:
        out.add_row(r["metric"], f"{r[r['metric']]:.4f}")
    console.print(out)
    if records:
        p = records[0]["protocol"]
        console.print(f"reference: {p['reference']}, n_fake {p['n_fake']}, n_real {p['n_real']}, "
                      f"uint8 {p['uint8']}, ema {p['ema']}, seed {p['seed']}"
                      + "".join(f", {k} {p[k]}" for k in SAMPLING_OPTIONS if k in p) + "; "
                      f"appended to {E.run_dir_of(resolve_checkpoint(runs[0])) / 'metrics.jsonl'}")


def _cell(value: float, sampled: str) -> str:
    """A compared score, with how its samples were drawn when that was not plain."""
    return f"{value:.4f}" + (f" ({sampled})" if sampled else "")
