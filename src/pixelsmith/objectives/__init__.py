"""Objectives (how a batch becomes losses), one file per family; GAN losses in a registry."""

from pixelsmith.objectives import gan, gan_losses, inpainting, restoration, vae  # noqa: F401
from pixelsmith.objectives.base import Batch, DataInfo, Objective, Phase, SampleNoise

__all__ = ["Batch", "DataInfo", "Objective", "Phase", "SampleNoise"]
