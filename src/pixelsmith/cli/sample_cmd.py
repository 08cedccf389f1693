from __future__ import annotations

from pathlib import Path

import typer


def sample(
    run: Path = typer.Argument(..., help="run folder or checkpoint folder"),
    num: int = typer.Option(64, "--num", "-n", help="how many images"),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o",
                             help="a .png path writes one grid; any other path a folder of PNGs"),
    seed: int = typer.Option(0, "--seed", help="same seed, same images"),
    no_ema: bool = typer.Option(False, "--no-ema", help="use the raw weights, not the EMA copy"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Generate images from a trained generator."""
    from pixelsmith.sampling import generate, load_model, write_images

    model = load_model(run, device=device, use_ema=not no_ema)
    path = write_images(generate(model, num, seed=seed), out)
    ema = ", EMA weights" if model.used_ema else ""
    typer.echo(f"wrote {num} images to {path} (from {model.path}{ema})")
