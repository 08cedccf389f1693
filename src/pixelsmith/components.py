"""Importing this module fills every registry: models, objectives, GAN losses, data sets,
degradations, masks, metrics and the classical baselines (``pixelsmith list``)."""

import pixelsmith.data  # noqa: F401 - data sets, degradations, masks
import pixelsmith.metrics.evaluate  # noqa: F401 - fid, kid, is, pr, acc, nelbo, ...
import pixelsmith.models  # noqa: F401
import pixelsmith.objectives  # noqa: F401 - objectives and GAN losses
import pixelsmith.restore  # noqa: F401 - gaussian-filter, median-filter, bicubic, bm3d, telea, ...
