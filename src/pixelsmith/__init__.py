"""pixelsmith: make images and mend them."""

__version__ = "0.1.0"
