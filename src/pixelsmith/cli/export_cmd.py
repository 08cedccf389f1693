from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt


def export(
    run: Path = typer.Argument(None, help="run folder or checkpoint folder"),
    num: int = typer.Option(10000, "--num", "-n", help="how many images in all"),
    out: Path = typer.Option(..., "--out", "-o", help="new folder for the data set"),
    seed: int = typer.Option(0, "--seed", help="same seed, same images"),
    batch_size: int = typer.Option(256, "--batch-size", help="images generated at once"),
    workers: int = typer.Option(0, "--workers", help="threads writing PNGs (0 = up to 8)"),
    truncation: opt.Truncation = None,
    sampler: opt.Sampler = None,
    steps: opt.Steps = None,
    guidance: opt.Guidance = None,
    eta: opt.Eta = None,
    precision: opt.Precision = None,
    no_ema: opt.NoEma = False,
    device: opt.Device = "auto",
    packaged: opt.Packaged = None,
) -> None:
    """Write a synthetic data set in ImageFolder layout, with a manifest to regenerate it:
    from a run, or a packaged generator (--model)."""
    from pixelsmith.generate import load_model
    from pixelsmith.generate.export import export as run_export
    from pixelsmith.generate.loading import run_or_packaged, truncation_overrides
    from pixelsmith.generate.sampler_options import sampler_overrides

    model = load_model(run_or_packaged(run, packaged), device=device, use_ema=not no_ema,
                       overrides=truncation_overrides(truncation)
                       + sampler_overrides(sampler, steps, guidance, eta, precision))
    manifest = run_export(model, num, out, seed=seed, batch_size=batch_size,
                          workers=workers or None)
    typer.echo(f"wrote {num} images in {len(manifest['classes'])} folder(s) and "
               f"manifest.json to {out}")
