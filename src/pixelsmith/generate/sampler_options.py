"""The diffusion sampling options of ``pixelsmith sample`` (``--sampler``, ``--steps``,
``--guidance``, ``--eta``, ``--precision``) as the config overrides they are: they change
how a trained model samples, never its weights (``load_model(..., overrides=...)``)."""

from __future__ import annotations

from pixelsmith.devices import check_precision
from pixelsmith.errors import PixelsmithError


def sampler_overrides(sampler: str | None = None, steps: int | None = None,
                      guidance: float | None = None, eta: float | None = None,
                      precision: str | None = None) -> list[str]:
    """``objective.*`` overrides for the options given (None: the run's own setting)."""
    if steps is not None and steps < 1:
        raise PixelsmithError(f"--steps must be at least 1, got {steps}")
    if eta is not None and eta < 0:
        raise PixelsmithError(f"--eta must be >= 0, got {eta}")
    if precision is not None:
        check_precision(precision)
    given = {"sampler": sampler, "sample_steps": steps, "guidance": guidance, "eta": eta,
             "sample_precision": precision}
    return [f"objective.{key}={value}" for key, value in given.items() if value is not None]
