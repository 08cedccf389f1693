from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt


def interpolate(
    run: Path = typer.Argument(None, help="run folder or checkpoint folder"),
    steps: int = typer.Option(8, "--steps", help="images along each walk, ends included"),
    out: Path = typer.Option(Path("interp.png"), "--out", "-o",
                             help="grid PNG; an animated GIF is written beside it"),
    rows: int = typer.Option(4, "--rows", help="independent walks, one grid row each"),
    seed: int = typer.Option(0, "--seed", help="same seed, same walks"),
    class_index: int = typer.Option(None, "--class", help="conditional models: this class"),
    between: tuple[Path, Path] | None = typer.Option(
        None, "--between", help="walk between the encodings of two images A.png B.png"),
    seeds: tuple[int, int] | None = typer.Option(
        None, "--seeds", help="walk between the first images of `sample --seed A` and "
                              "`--seed B` (one row)"),
    truncation: opt.Truncation = None,
    sampler: opt.Sampler = None,
    sample_steps: int = typer.Option(None, "--sample-steps",
                                     help="diffusion models: sampling steps of each image"),
    guidance: opt.Guidance = None,
    eta: opt.Eta = None,
    precision: opt.Precision = None,
    no_ema: opt.NoEma = False,
    device: opt.Device = "auto",
    packaged: opt.Packaged = None,
) -> None:
    """Walk between random inputs (spherical interpolation of z), between two seeds'
    samples, or between two images."""
    from pixelsmith.errors import PixelsmithError
    from pixelsmith.generate import load_model
    from pixelsmith.generate.interpolate import interpolate as walk
    from pixelsmith.generate.interpolate import write_interpolation
    from pixelsmith.generate.loading import run_or_packaged, truncation_overrides
    from pixelsmith.generate.sampler_options import sampler_overrides

    try:  # here --steps counts the frames; the sampler's steps are --sample-steps
        model = load_model(run_or_packaged(run, packaged), device=device, use_ema=not no_ema,
                           overrides=truncation_overrides(truncation)
                           + sampler_overrides(sampler, sample_steps, guidance, eta,
                                                     precision))
    except PixelsmithError as e:
        raise PixelsmithError(str(e).replace("--steps ", "--sample-steps ")) from None
    frames = walk(model, steps, rows=rows, seed=seed, class_index=class_index, between=between,
                  seeds=seeds)
    png, gif = write_interpolation(frames, out)
    typer.echo(f"wrote {png} and {gif} ({frames.shape[0]} x {steps} images)")
