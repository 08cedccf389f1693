"""Objectives (how a batch becomes losses), one file per family; GAN losses in a registry."""

from pixelsmith.objectives import (  # noqa: F401
    diffusion,
    gan,
    gan_losses,
    inpainting,
    progan,
    restoration,
    vae,
)
from pixelsmith.objectives.base import Batch, DataInfo, Objective, Phase, SampleNoise

__all__ = ["Batch", "DataInfo", "Objective", "Phase", "SampleNoise"]
