"""The use side of generators: load a run (``loading``, the one run loader), sample
(``sampling``: the one chunked loop), write images (``writer``), interpolate, export a
synthetic data set, reconstruct through a VAE."""

from pixelsmith.generate.loading import LoadedModel, load_model
from pixelsmith.generate.sampling import class_labels, generate, per_class_grid, sample_batches
from pixelsmith.generate.writer import generate_to_folder, write_images

__all__ = ["LoadedModel", "class_labels", "generate", "generate_to_folder", "load_model",
           "per_class_grid", "sample_batches", "write_images"]
