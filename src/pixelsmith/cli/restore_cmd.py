from __future__ import annotations

from pathlib import Path

import typer

TASKS = ("auto", "denoise", "sr", "deblur", "inpaint")
# options the inpainting path does not use: giving one with an inpainter is an error
NOT_FOR_INPAINTING = ("tile", "overlap", "degrade", "sigma", "seed")


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user set option ``name`` (on the command line or through the environment),
    as opposed to typer filling in its default."""
    src = ctx.get_parameter_source(name)
    return src is not None and src.name in ("COMMANDLINE", "ENVIRONMENT")


def _inputs(path: Path) -> tuple[list[Path], Path | None]:
    """(image files, the folder they are relative to, or None for one file)."""
    from pixelsmith.data.image_folder import IMAGE_EXTENSIONS, scan_folder
    from pixelsmith.errors import PixelsmithError

    if path.is_file():
        return [path], None
    if not path.is_dir():
        raise PixelsmithError(f"--input {path} does not exist")
    files, _ = scan_folder(path)
    if not files:
        raise PixelsmithError(f"--input {path} holds no image files "
                              f"({', '.join(sorted(IMAGE_EXTENSIONS))})")
    stems: dict[Path, Path] = {}
    for f in files:
        key = f.parent / f.stem
        if key in stems:
            raise PixelsmithError(f"{stems[key].name} and {f.name} in {f.parent} would both be "
                                  f"written as {f.stem}.png; rename one")
        stems[key] = f
    return files, path


def restore(
    ctx: typer.Context,
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c",
                                    help="run folder or checkpoint folder of a restorer"),
    input: Path = typer.Option(..., "--input", "-i", help="an image file or a folder of images"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the restored PNGs"),
    compare: bool = typer.Option(False, "--compare",
                                 help="also write <stem>_compare.png: before | after"),
    degrade: bool = typer.Option(False, "--degrade",
                                 help="treat inputs as clean: apply the model's own degradation "
                                      "(fixed seed) first, print PSNR before/after"),
    tile: int = typer.Option(256, "--tile", help="tile side in input pixels (0 = whole image)"),
    overlap: int = typer.Option(80, "--overlap", help="overlap of neighbouring tiles, pixels "
                                "(exact for receptive radii up to overlap/4)"),
    task: str = typer.Option("auto", "--task", help="auto|denoise|sr|deblur|inpaint"),
    mask: Path = typer.Option(None, "--mask", help="inpainting: mask PNG (white = missing)"),
    sigma: float = typer.Option(None, "--sigma",
                                help="noise level (0-255) for models that read it; with "
                                     "--degrade on a Gaussian-noise model also the noise added"),
    seed: int = typer.Option(0, "--seed", help="seed of --degrade"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Restore images with a trained restorer (denoise, super-resolve, deblur) or inpainter."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from pixelsmith.errors import PixelsmithError, UnreadableImage
    from pixelsmith.restore.restorer import load_restorer
    from pixelsmith.training.checkpoint import load_checkpoint

    if overlap < 0:
        raise PixelsmithError(f"--overlap must be >= 0 pixels, got {overlap}")
    if tile < 0:
        raise PixelsmithError(f"--tile must be >= 0 pixels (0 = whole image), got {tile}")
    if task not in TASKS:
        raise PixelsmithError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    files, root = _inputs(input)
    ckpt = load_checkpoint(checkpoint)
    skipped: list[str] = []

    def skip(path, err) -> None:  # a folder goes on past an undecodable file
        if root is None:
            raise err
        skipped.append(str(path))
        typer.echo(f"warning: skipped {err}", err=True)

    kind = ckpt.objective_name  # restoration, inpainting, gan, vae, ...
    if task == "inpaint" or kind == "inpainting":
        from pixelsmith.restore.inpainting import inpaint_files

        if kind != "inpainting":
            raise PixelsmithError(f"--task inpaint does not fit {checkpoint}: it is a "
                                  f"{kind} model, not an inpainting one")
        if task not in ("auto", "inpaint"):
            raise PixelsmithError(f"--task {task} does not fit {checkpoint}: it is an "
                                  "inpainting model; use --task auto or inpaint")
        unused = [f"--{n}" for n in NOT_FOR_INPAINTING if _given(ctx, n)]
        if unused:
            raise PixelsmithError(f"{', '.join(unused)} not used when inpainting (the image is "
                                  "filled whole, with the holes of --mask); leave "
                                  f"{'it' if len(unused) == 1 else 'them'} out")
        written = inpaint_files(ckpt, files, mask, out, compare=compare, device=device,
                                on_unreadable=skip)
        typer.echo(f"wrote {len(written)} file(s) to {out}")
        _end(skipped)
        return
    if mask is not None:
        raise PixelsmithError(f"--mask is for inpainting checkpoints; this one is a {kind} model")
    r = load_restorer(ckpt, device=device)
    if task != "auto" and task != r.task:
        raise PixelsmithError(f"--task {task} does not fit {r.path}: it is a {r.task} model "
                              f"(trained on {r.degradation[0]}); use --task auto")
    from pixelsmith.restore.files import restore_file

    console = Console(stderr=True)
    results = []
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task(f"{r.task} x{r.scale}" if r.scale > 1 else r.task,
                                total=len(files))
        for f in files:
            try:
                results.append(restore_file(r, f, out, root=root, compare=compare,
                                            degrade=degrade, tile=tile, overlap=overlap,
                                            sigma=sigma, seed=seed))
            except UnreadableImage as e:
                skip(f, e)
            progress.advance(bar)
    if degrade and results:
        # --sigma counts where it set the noise added or the level a noise-aware net reads
        used = r.reads_sigma or r.degradation[0] == "gaussian-noise"
        level = f", sigma {sigma:g}" if sigma is not None and used else ""
        table = Table(title=f"{r.task}: model trained on {r.degradation[0]} {r.degradation[1]}"
                            f"{level} (seed {seed})")
        for col in ("file", "degraded PSNR", "restored PSNR", "gain"):
            table.add_column(col, justify="left" if col == "file" else "right")
        for res in results:
            table.add_row(res.path.name, f"{res.psnr_in:.2f}", f"{res.psnr_out:.2f}",
                          f"{res.psnr_out - res.psnr_in:+.2f}")
        if len(results) > 1:
            mean_in = sum(x.psnr_in for x in results) / len(results)
            mean_out = sum(x.psnr_out for x in results) / len(results)
            table.add_row("mean", f"{mean_in:.2f}", f"{mean_out:.2f}",
                          f"{mean_out - mean_in:+.2f}")
        Console().print(table)
    n = sum(len(x.written) for x in results)
    typer.echo(f"wrote {n} file(s) for {len(results)} input(s) to {out} (model {r.path})")
    _end(skipped)


def _end(skipped: list[str]) -> None:
    """Exit 1 after the work when files were skipped, so scripts notice (2 = bad usage)."""
    if skipped:
        typer.echo(f"error: skipped {len(skipped)} unreadable file(s): {', '.join(skipped)}",
                   err=True)
        raise typer.Exit(1)
