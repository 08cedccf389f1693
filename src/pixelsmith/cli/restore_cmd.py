from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt

TASKS = ("auto", "denoise", "sr", "deblur", "inpaint")
# options the inpainting path does not use: giving one with an inpainter is an error
NOT_FOR_INPAINTING = ("tile", "overlap", "degrade", "sigma", "seed", "precision")


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
    image: Path = typer.Argument(None, metavar="[IMAGE]",
                                 help="an image file or a folder of images (or --input)"),
    checkpoint: Path = typer.Option(None, "--checkpoint", "-c",
                                    help="run folder or checkpoint folder of your own restorer "
                                         "(default: the packaged model for --task)"),
    model: str = typer.Option(None, "--model", "-m",
                              help="a packaged model by name (`pixelsmith models` lists them)"),
    input: Path = typer.Option(None, "--input", "-i", help="an image file or a folder of images"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for the restored PNGs"),
    compare: bool = typer.Option(False, "--compare",
                                 help="also write <stem>_compare.png: before | after"),
    degrade: bool = typer.Option(False, "--degrade",
                                 help="treat inputs as clean: apply the model's own degradation "
                                      "(fixed seed) first, print PSNR before/after"),
    # the defaults are restore.tiling's DEFAULT_TILE / DEFAULT_OVERLAP, written out so the
    # CLI starts without importing torch (a test keeps them equal)
    tile: int = typer.Option(256, "--tile", help="tile side in input pixels (0 = whole image)"),
    overlap: int = typer.Option(32, "--overlap", help="overlap of neighbouring tiles, pixels "
                                "(exact for receptive radii up to overlap/4)"),
    task: str = typer.Option("auto", "--task", help="auto|denoise|sr|deblur|inpaint (auto: "
                             "what the checkpoint does; denoise for packaged models)"),
    scale: int = typer.Option(None, "--scale", help="super-resolution factor of the packaged "
                              "model (2 or 4)"),
    mask: Path = typer.Option(None, "--mask", help="inpainting: mask PNG (white = missing)"),
    sigma: float = typer.Option(None, "--sigma",
                                help="noise level (0-255) for models that read it; with "
                                     "--degrade on a Gaussian-noise model also the noise added"),
    seed: int = typer.Option(0, "--seed", help="seed of --degrade"),
    device: opt.Device = "auto",
    precision: str = typer.Option(
        "auto", "--precision", help="auto|fp32|bf16: auto runs the network in bf16 where the "
        "device does it natively (a CPU with AVX512-BF16 or AMX, a GPU with bf16): about 2x "
        "faster, within a few thousandths of a dB; fp32 for bit-reproducible outputs. A "
        "diffusion run's RePaint inpainting samples in fp32 unless --precision is given"),
) -> None:
    """Restore images: denoise, super-resolve, deblur or inpaint, with a packaged model
    (no --checkpoint: picked by --task, --scale and the picture's channels, or --model NAME)
    or your own trained run (--checkpoint RUN)."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from pixelsmith.devices import check_precision
    from pixelsmith.errors import PixelsmithError, UnreadableImage
    from pixelsmith.restore.restorer import load_restorer
    from pixelsmith.training.checkpoint import load_checkpoint

    if overlap < 0:
        raise PixelsmithError(f"--overlap must be >= 0 pixels, got {overlap}")
    if tile < 0:
        raise PixelsmithError(f"--tile must be >= 0 pixels (0 = whole image), got {tile}")
    if task not in TASKS:
        raise PixelsmithError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    check_precision(precision)
    if (image is None) == (input is None):
        raise PixelsmithError("give the pictures to restore once: `pixelsmith restore IMAGE` "
                              "or --input IMAGE (a file or a folder)")
    input = image if input is None else input
    if checkpoint is not None and model is not None:
        raise PixelsmithError("--checkpoint and --model both name a model; give one")
    files, root = _inputs(input)
    from pixelsmith.restore.files import check_output_folder, check_sigma

    check_sigma(sigma)  # before any model is loaded: a bad request costs nothing
    check_output_folder(out, files, root, keep=[mask] if mask else [])
    if checkpoint is not None:
        if scale is not None:
            raise PixelsmithError("--scale picks a packaged model; a --checkpoint run "
                                  "enlarges by the scale it was trained for")
        ckpt = load_checkpoint(checkpoint)
        kind = ckpt.objective_name  # restoration, inpainting, gan, vae, ...
        pick = None
    else:
        ckpt, task, pick = _packaged(model, task, scale, files)
        kind = "inpainting" if task == "inpaint" else "restoration"
    skipped: list[str] = []

    def skip(path, err) -> None:  # a folder goes on past an undecodable file
        if root is None:
            raise err
        skipped.append(str(path))
        typer.echo(f"warning: skipped {err}", err=True)

    if task == "inpaint" or kind == "inpainting":
        from pixelsmith.restore.inpainting import inpaint_files

        if kind not in ("inpainting", "diffusion"):  # a diffusion model fills by RePaint
            raise PixelsmithError(f"--task inpaint does not fit {checkpoint}: it is a "
                                  f"{kind} model, not an inpainting or diffusion one")
        if task not in ("auto", "inpaint"):
            raise PixelsmithError(f"--task {task} does not fit {checkpoint}: it is an "
                                  "inpainting model; use --task auto or inpaint")
        # RePaint runs the denoiser many times: --precision (given) is its sampling one
        repaint_precision = kind == "diffusion" and _given(ctx, "precision")
        unused = [f"--{n}" for n in NOT_FOR_INPAINTING if _given(ctx, n)
                  and not (n == "precision" and repaint_precision)]
        if unused:
            raise PixelsmithError(f"{', '.join(unused)} not used when inpainting (the image is "
                                  "filled whole, with the holes of --mask); leave "
                                  f"{'it' if len(unused) == 1 else 'them'} out")
        from pixelsmith.generate.sampler_options import sampler_overrides

        over = sampler_overrides(precision=precision) if repaint_precision else []
        written = inpaint_files(ckpt, files, mask, out, compare=compare, device=device,
                                on_unreadable=skip, overrides=over)
        typer.echo(f"wrote {len(written)} file(s) to {out}")
        _end(skipped)
        return
    if mask is not None:
        raise PixelsmithError(f"--mask is for inpainting checkpoints; this one is a {kind} model")
    restorers = {}  # "" = the user's run, else packaged models by name, each loaded once
    if pick is None:
        r = restorers[""] = load_restorer(ckpt, device=device).with_precision(precision)
        if task != "auto" and task != r.task:
            raise PixelsmithError(f"--task {task} does not fit {r.path}: it is a {r.task} "
                                  f"model (trained on {r.degradation[0]}); use --task auto")

    def restorer_for(f: Path):
        name, per_channel, img = ("", False, None) if pick is None else pick(f)  # by channels
        key = name + (" per channel" if per_channel else "")
        if key not in restorers:
            from pixelsmith.zoo import load_pretrained

            restorers[key] = load_pretrained(name, device=device).with_precision(precision)
            if per_channel:
                typer.echo(f"warning: no packaged colour denoiser; {name} denoises each colour "
                           "channel on its own", err=True)
                restorers[key] = restorers[key].per_channel()
        return restorers[key], img

    from pixelsmith.restore.files import restore_file

    console = Console(stderr=True)
    results = []
    with Progress(console=console, transient=True) as progress:
        first = restorers.get("")  # the run's own task and scale; else what was asked
        label = (first.task, first.scale) if first else (task, scale or 1)
        bar = progress.add_task(f"{label[0]} x{label[1]}" if label[1] > 1 else label[0],
                                total=len(files))
        for f in files:
            try:
                r, img = restorer_for(f)
                results.append(restore_file(r, f, out, root=root, compare=compare,
                                            degrade=degrade, tile=tile, overlap=overlap,
                                            sigma=sigma, seed=seed, image=img))
                if sigma is None and r.estimates_sigma and r.last_sigma is not None:
                    progress.console.print(f"{f.name}: noise level σ ≈ {r.last_sigma:.1f} "
                                           "(estimated; --sigma sets it)")
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
    used = ", ".join((f"packaged {k}" if k else str(v.path)) + f", {v.precision}"
                     for k, v in restorers.items())
    typer.echo(f"wrote {n} file(s) for {len(results)} input(s) to {out} (model {used})")
    _end(skipped)


def _packaged(model: str | None, task: str, scale: int | None, files: list[Path]):
    """(checkpoint for an inpainter or None, the task, file -> packaged model name or None)
    for a restore without --checkpoint: --model NAME, else the model for --task (denoise
    when not given), --scale and each picture's channels."""
    from pixelsmith.errors import PixelsmithError
    from pixelsmith.restore.files import read_image_file
    from pixelsmith.zoo import find_card, pick_model
    from pixelsmith.zoo.loading import card_checkpoint

    if model is not None:
        card = find_card(model)
        if card.task == "generate":
            raise PixelsmithError(f"packaged model '{model}' is an image generator; use "
                                  f"`pixelsmith sample --model {model}`")
        if task not in ("auto", card.task):
            raise PixelsmithError(f"--task {task} does not fit packaged model '{model}': it "
                                  f"is a {card.task} model")
        if scale is not None and scale != card.scale:
            raise PixelsmithError(f"--scale {scale} does not fit packaged model '{model}': it "
                                  f"enlarges x{card.scale}")
        task = card.task
        if task == "inpaint":
            return card_checkpoint(card), task, None
    else:
        task = "denoise" if task == "auto" else task
        if (task == "sr") != (scale is not None):
            raise PixelsmithError("--task sr needs --scale (2 or 4) to pick a packaged model"
                                  if task == "sr" else "--scale is for --task sr")
        if task == "inpaint":  # one inpainter for the folder, by the first picture's channels
            channels = read_image_file(files[0]).pixels.shape[0]
            return card_checkpoint(pick_model(task, channels)), task, None

    def pick(f: Path):
        """The packaged model for this picture, whether it runs per colour channel, and
        the decoded picture (handed on, so it is decoded once)."""
        img = read_image_file(f)
        channels = img.pixels.shape[0]
        card = find_card(model) if model else pick_model(task, channels, scale or 1)
        return card.name, task == "denoise" and channels == 3 and card.channels == 1, img

    return None, task, pick


def _end(skipped: list[str]) -> None:
    """Exit 1 after the work when files were skipped, so scripts notice (2 = bad usage)."""
    if skipped:
        typer.echo(f"error: skipped {len(skipped)} unreadable file(s): {', '.join(skipped)}",
                   err=True)
        raise typer.Exit(1)
