"""Importing this module registers every built-in model, data set, loss and objective."""

import pixelsmith.data  # noqa: F401
import pixelsmith.inpaint_baselines  # noqa: F401 - telea, navier-stokes
import pixelsmith.models  # noqa: F401
import pixelsmith.objectives  # noqa: F401
