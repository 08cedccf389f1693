from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from pixelsmith.errors import PixelsmithError


def train(
    config: Path = typer.Argument(None, help="YAML experiment file (overrides of the defaults)"),
    set_: list[str] = typer.Option([], "--set", help="override one key: --set train.steps=500"),
    run_dir: Path = typer.Option(None, "--run-dir", help="where the run is written"),
    resume: Path = typer.Option(None, "--resume", help="continue the run in this folder"),
    overwrite: bool = typer.Option(False, "--overwrite", help="start the run in a --run-dir "
                                   "that is not empty, deleting an earlier run there"),
    data_root: Path = typer.Option(None, "--data-root", help="folder holding the data set "
                                   "(sets data.root; default $PIXELSMITH_DATA, see docs/data.md)"),
) -> None:
    """Train a model from a config, or resume a run exactly where it stopped."""
    from pixelsmith.api import with_callbacks
    from pixelsmith.config import load_config
    from pixelsmith.training import Trainer
    from pixelsmith.training import distributed as dist
    from pixelsmith.training.run_folder import prepare_run_dir

    if data_root is not None:  # JSON quoting: any path is a YAML string
        set_ = [*set_, f"data.root={json.dumps(str(data_root))}"]
    if resume is not None:
        if config is not None:
            raise PixelsmithError("give either CONFIG or --resume RUN_DIR, not both")
        if overwrite:
            raise PixelsmithError("--overwrite starts a new run; with --resume the run goes on")
        trainer = Trainer.resume(resume, set_)
        if trainer.dist.is_main:
            typer.echo(f"resuming {resume} from step {trainer.step}", err=True)
    else:
        if config is None:
            raise PixelsmithError("missing CONFIG (e.g. configs/gan/dcgan-digits.yaml) or --resume")
        cfg = load_config(config, set_)
        info = dist.init_distributed(cfg.train.device)  # no-op for one process
        if run_dir is None:  # rank 0's clock names the folder for every rank
            run_dir = dist.broadcast_object(
                Path("runs") / f"{config.stem}-{time.strftime('%Y%m%d-%H%M%S')}", info)
        if info.is_main:  # the other ranks find the folder rank 0 made
            prepare_run_dir(run_dir, overwrite=overwrite)
        trainer = Trainer(cfg, run_dir)
    with_callbacks(trainer).fit()
    dist.shutdown()
    if trainer.dist.is_main:
        typer.echo(f"run folder: {trainer.run_dir}  (samples/, loss_curves.png, checkpoints/)")
