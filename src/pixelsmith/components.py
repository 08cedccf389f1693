"""Importing this module registers every built-in model, data set, loss and objective."""

import pixelsmith.baselines  # noqa: F401 - gaussian-filter, median-filter, bicubic, bm3d
import pixelsmith.data  # noqa: F401
import pixelsmith.inpaint_baselines  # noqa: F401 - telea, navier-stokes
import pixelsmith.models  # noqa: F401
import pixelsmith.objectives  # noqa: F401
