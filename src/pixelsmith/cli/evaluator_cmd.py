from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Per-data-set evaluator classifiers (features for offline metrics).")


@app.command("train")
def train(
    dataset: str = typer.Option(..., "--dataset", help="mnist, fashion-mnist, cifar10, digits, "
                                                       "image-folder"),
    data_root: str = typer.Option(None, "--data-root", help="folder holding the data set"),
    img_size: int = typer.Option(32, "--img-size", help="must match the generators' data.img_size"),
    channels: int = typer.Option(None, "--channels", help="1 or 3 (default 3 for cifar10)"),
    epochs: int = typer.Option(None, "--epochs", help="default: the data set's recipe "
                                                      "(cifar10 30, fashion-mnist 10, ...)"),
    max_steps: int = typer.Option(None, "--max-steps", help="stop after this many steps"),
    batch_size: int = typer.Option(128, "--batch-size"),
    width: int = typer.Option(None, "--width", help="channels of the first conv block "
                                                    "(default: the recipe's; cifar10 64)"),
    max_images: int = typer.Option(None, "--max-images", help="train on the first N only"),
    out: Path = typer.Option(None, "--out", help="folder (default: the evaluator cache)"),
    device: opt.Device = "auto",
    seed: int = typer.Option(0, "--seed"),
    precision: str = typer.Option("auto", "--precision",
                                  help="auto (bf16 autocast where the device runs it fast), "
                                       "bf16 or fp32"),
) -> None:
    """Train the evaluator for a data set and cache it where metrics find it."""
    import pixelsmith.data  # noqa: F401 - registers the data sets
    from pixelsmith.config import DataConfig
    from pixelsmith.metrics.evaluator import evaluator_dir, train_evaluator

    ch = channels if channels is not None else (3 if dataset == "cifar10" else 1)
    cfg = DataConfig(name=dataset, root=data_root, img_size=img_size, img_channels=ch,
                     labels=True, max_images=max_images)
    info = train_evaluator(cfg, epochs=epochs, batch_size=batch_size, width=width,
                           max_steps=max_steps, out=out, device=device, seed=seed,
                           precision=precision, log=typer.echo)
    typer.echo(f"held-out accuracy {info['held_out_accuracy']:.4f} on {info['num_held_out']} "
               f"images ({info['held_out']}); saved to {out or evaluator_dir(cfg)}")


@app.command("show")
def show(
    folder: Path = typer.Argument(..., help="evaluator folder"),
) -> None:
    """Print an evaluator's JSON record."""
    from pixelsmith.errors import PixelsmithError

    path = folder / "evaluator.json"
    if not path.is_file():
        raise PixelsmithError(f"{path} not found (train one with: pixelsmith evaluator train)")
    typer.echo(path.read_text())
