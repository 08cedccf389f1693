from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt


def sample(
    run: Path = typer.Argument(None, help="run folder or checkpoint folder"),
    num: int = typer.Option(64, "--num", "-n", help="how many images (per class with --per-class)"),
    out: Path = typer.Option(Path("samples.png"), "--out", "-o",
                             help="a .png path writes one grid; any other path a folder of PNGs"),
    seed: int = typer.Option(0, "--seed", help="same seed, same images"),
    class_index: int = typer.Option(None, "--class", help="conditional models: only this class"),
    per_class: bool = typer.Option(False, "--per-class",
                                   help="conditional models: one row of --num images per class"),
    sampler: opt.Sampler = None,
    steps: opt.Steps = None,
    guidance: opt.Guidance = None,
    eta: opt.Eta = None,
    precision: opt.Precision = None,
    truncation: opt.Truncation = None,
    no_ema: opt.NoEma = False,
    device: opt.Device = "auto",
    packaged: opt.Packaged = None,
) -> None:
    """Generate images from a trained generator: a run, or a packaged one (--model)."""
    from pixelsmith.generate import (
        class_labels,
        generate,
        generate_to_folder,
        load_model,
        per_class_grid,
        write_images,
    )
    from pixelsmith.generate.loading import run_or_packaged, truncation_overrides
    from pixelsmith.generate.sampler_options import sampler_overrides
    from pixelsmith.generate.writer import check_grid

    model = load_model(run_or_packaged(run, packaged), device=device, use_ema=not no_ema,
                       overrides=truncation_overrides(truncation)
                       + sampler_overrides(sampler, steps, guidance, eta, precision))
    if per_class:
        check_grid(model, num * max(model.objective.sample_classes, 1), out)
        images = per_class_grid(model, num, seed=seed)
        path = write_images(images, out, nrow=num)
    elif out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        # a folder: batches generated on the device while writer threads save the PNGs
        labels = class_labels(model, num, class_index)
        path = generate_to_folder(model, num, out, seed=seed, labels=labels)
        images = range(num)
    else:
        check_grid(model, num, out)
        images = generate(model, num, seed=seed, labels=class_labels(model, num, class_index))
        path = write_images(images, out)
    ema = ", EMA weights" if model.used_ema else ""
    typer.echo(f"wrote {len(images)} images to {path} (from {model.path}{ema})")
