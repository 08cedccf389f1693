from pixelsmith.training.trainer import Trainer, train

__all__ = ["Trainer", "train"]
