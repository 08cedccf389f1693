"""Model architectures, one per file; each registers a builder in ``MODELS``."""

from pixelsmith.models import dcgan, dncnn, inpaint_unet, resnet, srnet, unet_restorer, vae  # noqa: F401
from pixelsmith.models.build import build_model

__all__ = ["build_model"]
