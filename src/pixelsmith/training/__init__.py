"""The one training loop (``Trainer``) and what it is made of: checkpoints, the learning-rate
schedule, EMA, distributed helpers, run logs. ``pixelsmith.api.train`` wires a Trainer with
the standard callbacks (evaluation during training)."""

from pixelsmith.training.trainer import Trainer

__all__ = ["Trainer"]
