"""Model architectures, one per file; each registers a builder in ``MODELS``."""

from pixelsmith.models import dcgan, inpaint_unet, resnet, vae  # noqa: F401
from pixelsmith.models.build import build_model

__all__ = ["build_model"]
