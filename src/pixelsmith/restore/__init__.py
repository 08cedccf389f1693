"""The use side of restorers: a trained restorer on images of any size (``restorer``,
``tiling``, ``files``), inpainting (``inpainting``), the classical baselines scored beside
them (``baselines``, ``inpaint_baselines``, registered in ``BASELINES``) and the papers'
benchmark protocol (``benchmark``)."""

from pixelsmith.restore import baselines, inpaint_baselines  # noqa: F401 - register baselines
from pixelsmith.restore.inpainting import inpaint, inpaint_files, load_inpainter
from pixelsmith.restore.restorer import Restorer, load_restorer
from pixelsmith.restore.tiling import tiled_apply

__all__ = ["Restorer", "inpaint", "inpaint_files", "load_inpainter", "load_restorer",
           "tiled_apply"]
