from __future__ import annotations

from pathlib import Path

import typer


def export(
    run: Path = typer.Argument(..., help="run folder or checkpoint folder"),
    num: int = typer.Option(10000, "--num", "-n", help="how many images in all"),
    out: Path = typer.Option(..., "--out", "-o", help="new folder for the data set"),
    seed: int = typer.Option(0, "--seed", help="same seed, same images"),
    batch_size: int = typer.Option(256, "--batch-size", help="images generated at once"),
    workers: int = typer.Option(0, "--workers", help="threads writing PNGs (0 = up to 8)"),
    truncation: float = typer.Option(
        None, "--truncation", help="GANs: z from N(0, 1) cut to [-t, t], the truncation "
                                   "trick (smaller: cleaner, less varied images)"),
    no_ema: bool = typer.Option(False, "--no-ema", help="use the raw weights, not the EMA copy"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Write a synthetic data set in ImageFolder layout, with a manifest to regenerate it."""
    from pixelsmith.generate import load_model
    from pixelsmith.generate.export import export as run_export
    from pixelsmith.generate.loading import truncation_overrides

    model = load_model(run, device=device, use_ema=not no_ema,
                       overrides=truncation_overrides(truncation))
    manifest = run_export(model, num, out, seed=seed, batch_size=batch_size,
                          workers=workers or None)
    typer.echo(f"wrote {num} images in {len(manifest['classes'])} folder(s) and "
               f"manifest.json to {out}")
