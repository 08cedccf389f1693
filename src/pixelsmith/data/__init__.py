"""Data sets as whole uint8 tensors; importing this registers every loader by name."""

from pixelsmith.data import digits, image_folder, torchvision_sets  # noqa: F401 - registers loaders
from pixelsmith.data.base import ImageData, load_dataset

__all__ = ["ImageData", "load_dataset"]
