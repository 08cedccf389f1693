"""pixelsmith from Python: each function does what the command of the same name does, with
the same wiring (the trainer with its standard callbacks, the one run loader).

    from pixelsmith.api import load_config, train, load_model, generate, write_images

    cfg = load_config("configs/gan/dcgan-digits.yaml", ["train.steps=500"])
    train(cfg, "runs/py")
    write_images(generate(load_model("runs/py"), 16, seed=0), "grid.png")
"""

from __future__ import annotations

from pathlib import Path

from pixelsmith.config import Config, load_config
from pixelsmith.generate import generate, load_model, write_images
from pixelsmith.metrics.training_eval import attach_evaluation
from pixelsmith.restore import load_inpainter, load_restorer
from pixelsmith.training import Trainer
from pixelsmith.zoo import list_models, load_pretrained

__all__ = ["generate", "list_models", "load_config", "load_inpainter", "load_model",
           "load_pretrained", "load_restorer", "make_trainer", "resume", "train",
           "write_images"]


def with_callbacks(trainer: Trainer) -> Trainer:
    """Attach the standard callbacks: metrics every ``train.eval_every`` steps (none at 0)."""
    attach_evaluation(trainer)
    return trainer


def make_trainer(cfg: Config, run_dir: str | Path) -> Trainer:
    """A Trainer for a new run with the standard callbacks, not started."""
    return with_callbacks(Trainer(cfg, run_dir))


def train(cfg: Config, run_dir: str | Path) -> Trainer:
    """Train ``cfg`` into ``run_dir``; the twin of ``pixelsmith train CONFIG``."""
    return make_trainer(cfg, run_dir).fit()


def resume(run_dir: str | Path, overrides: list[str] = ()) -> Trainer:
    """Continue a run exactly where it stopped (``overrides`` like ``train.steps=20000``);
    the twin of ``pixelsmith train --resume RUN``."""
    return with_callbacks(Trainer.resume(run_dir, list(overrides))).fit()
