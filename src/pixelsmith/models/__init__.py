"""Model architectures, one per file; each registers a builder in ``MODELS``."""

from pixelsmith.models import (  # noqa: F401
    biggan,
    convlstm_restorer,
    dcgan,
    dncnn,
    inpaint_unet,
    progan,
    resnet,
    srnet,
    unet_denoiser,
    unet_restorer,
    vae,
)
from pixelsmith.models.build import build_model

__all__ = ["build_model"]
