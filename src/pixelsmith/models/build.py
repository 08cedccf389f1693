from __future__ import annotations

from torch import nn

from pixelsmith.registry import MODELS


def build_model(model_cfg, *, img_size: int, img_channels: int, num_classes: int = 0
                ) -> nn.ModuleDict:
    """The named networks of a model (e.g. generator + discriminator) as a ModuleDict."""
    nets = MODELS.get(model_cfg.name)(
        model_cfg, img_size=img_size, img_channels=img_channels, num_classes=num_classes
    )
    return nn.ModuleDict(nets)
