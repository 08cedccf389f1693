from __future__ import annotations

import time
from pathlib import Path

import typer

from pixelsmith.errors import PixelsmithError


def train(
    config: Path = typer.Argument(None, help="YAML experiment file (overrides of the defaults)"),
    set_: list[str] = typer.Option([], "--set", help="override one key: --set train.steps=500"),
    run_dir: Path = typer.Option(None, "--run-dir", help="where the run is written"),
    resume: Path = typer.Option(None, "--resume", help="continue the run in this folder"),
) -> None:
    """Train a model from a config, or resume a run exactly where it stopped."""
    from pixelsmith.config import load_config
    from pixelsmith.training import Trainer
    from pixelsmith.training import distributed as dist

    if resume is not None:
        if config is not None:
            raise PixelsmithError("give either CONFIG or --resume RUN_DIR, not both")
        trainer = Trainer.resume(resume, set_)
    else:
        if config is None:
            raise PixelsmithError("missing CONFIG (e.g. configs/gan/dcgan-digits.yaml) or --resume")
        cfg = load_config(config, set_)
        info = dist.init_distributed(cfg.train.device)  # no-op for one process
        if run_dir is None:  # rank 0's clock names the folder for every rank
            run_dir = dist.broadcast_object(
                Path("runs") / f"{config.stem}-{time.strftime('%Y%m%d-%H%M%S')}", info)
        if (run_dir / "checkpoints" / "last.json").exists():
            raise PixelsmithError(
                f"{run_dir} already holds a run; use --resume {run_dir} or another --run-dir")
        trainer = Trainer(cfg, run_dir)
    trainer.fit()
    dist.shutdown()
    if trainer.dist.is_main:
        typer.echo(f"run folder: {trainer.run_dir}  (samples/, loss_curves.png, checkpoints/)")
