"""Data: the registered data sets (whole uint8 tensors), where they are found (``roots``),
the batch sources the trainer draws from (``batches``), and the degradations and masks that
restorers and inpainters train on. Importing the package registers all of them."""

from pixelsmith.data import (  # noqa: F401 - registers loaders, degradations and masks
    degradations,
    digits,
    image_folder,
    masks,
    packed,
    restoration_sets,
    torchvision_sets,
)
from pixelsmith.data.base import Batch, DataInfo, ImageData, load_dataset

__all__ = ["Batch", "DataInfo", "ImageData", "load_dataset"]
