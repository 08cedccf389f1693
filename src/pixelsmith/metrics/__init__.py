"""Metrics: distribution metrics for generators, paired metrics for restorers.

A metric is ``@METRICS.register("name", help=...)`` on a function ``(ctx: EvalContext) ->
dict[str, float]`` whose keys are full metric names that state their protocol
(e.g. ``fid10k@fashion-mnist-evaluator``).
"""

from pixelsmith.metrics import (
    distribution,  # noqa: F401 - registers fid, kid, is, pr, acc
    vae,  # noqa: F401  (registers nelbo, nll_iw100, recon)
)
from pixelsmith.metrics.base import EvalContext

__all__ = ["EvalContext"]
