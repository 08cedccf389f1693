"""Data sets as whole uint8 tensors; importing this registers every loader by name."""

from pixelsmith.data import (  # noqa: F401 - registers loaders and degradations
    degradations,
    digits,
    image_folder,
    torchvision_sets,
)
from pixelsmith.data.base import ImageData, load_dataset

__all__ = ["ImageData", "load_dataset"]
