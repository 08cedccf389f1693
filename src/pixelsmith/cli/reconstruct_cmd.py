from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt


def reconstruct(
    run: Path = typer.Argument(..., help="run folder or checkpoint folder of a VAE"),
    input: Path = typer.Option(..., "--input", "-i", help="an image file or a folder of images"),
    out: Path = typer.Option(Path("reconstructions.png"), "--out", "-o",
                             help="PNG grid: each original followed by its reconstruction"),
    label: int = typer.Option(None, "--label", help="class of the images (conditional VAEs)"),
    no_ema: opt.NoEma = False,
    device: opt.Device = "auto",
) -> None:
    """Encode images and decode them again; write originals beside reconstructions."""
    from pixelsmith.generate import load_model
    from pixelsmith.generate.reconstruct import read_images, reconstruct, write_pairs

    model = load_model(run, device=device, use_ema=not no_ema)
    data = model.cfg.data
    images = read_images(input, data.img_size, data.img_channels)
    originals, recons = reconstruct(model, images, label=label)
    path = write_pairs(originals, recons, out)
    typer.echo(f"wrote {len(images)} originals + reconstructions to {path} (from {model.path})")
