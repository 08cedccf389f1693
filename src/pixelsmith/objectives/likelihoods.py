"""Decoder likelihoods p(x|z) for the VAE: each returns log p in nats per image.

Images are in [-1, 1] and come from 8-bit pixels, so pixel k in 0..255 sits at
x = k/127.5 - 1 and owns the bin [x - 1/255, x + 1/255]. The discretised likelihoods
(logistic, Gaussian) give each bin the probability mass of a continuous density, with
the two end bins stretched to -inf / +inf, so the 256 masses sum to 1 and the nats they
report are real likelihoods of 8-bit images (comparable with published bits/dim).
The Bernoulli likelihood is a real likelihood for binary images (``objective.binarize``);
on gray images it is the usual "BCE" loss, not a normalised likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from pixelsmith.registry import Registry

LIKELIHOODS = Registry("likelihood")
HALF_BIN = 1.0 / 255.0  # half the width of one 8-bit bin in [-1, 1] units
LOG_SCALE_MIN, LOG_SCALE_MAX = -7.0, 2.0  # keeps scales away from 0 and from flat
_FAR = 1e4  # "infinity" in standard units for the end bins (finite: keeps gradients clean)


def log_interval(log_cdf: Callable[[torch.Tensor], torch.Tensor], a: torch.Tensor,
                 b: torch.Tensor) -> torch.Tensor:
    """log(F(b) - F(a)) for a < b (standard units) and a CDF symmetric about 0.

    Computed in the left tail, where F is small and log F precise: an interval to the
    right of 0 is mirrored first, since F(b) - F(a) = F(-a) - F(-b).
    """
    flip = (a + b) > 0
    a, b = torch.where(flip, -b, a), torch.where(flip, -a, b)
    la, lb = log_cdf(a), log_cdf(b)
    return lb + torch.log(-torch.expm1(la - lb))  # log F(b) + log(1 - F(a)/F(b))


def discretised_log_prob(log_cdf, x: torch.Tensor, loc: torch.Tensor,
                         log_scale: torch.Tensor) -> torch.Tensor:
    """Per-pixel log mass of the 8-bit bin around ``x`` (same shape as ``x``)."""
    inv = torch.exp(-log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    far = torch.full_like(x, _FAR)
    a = torch.where(x < -1 + HALF_BIN, -far, (x - HALF_BIN - loc) * inv)
    b = torch.where(x > 1 - HALF_BIN, far, (x + HALF_BIN - loc) * inv)
    return log_interval(log_cdf, a, b)


class Likelihood:
    """``log_prob(loc, log_scale, x) -> (B,)`` nats per image; ``mean`` -> images in [-1, 1]."""

    def __init__(self, cfg=None):
        self.cfg = cfg

    def log_prob(self, loc: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor
                 ) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        return loc.clamp(-1, 1)


@LIKELIHOODS.register("bernoulli", help="Bernoulli per pixel (BCE); a likelihood for binary images")
class Bernoulli(Likelihood):
    def log_prob(self, loc, log_scale, x):
        target = (x + 1) / 2  # [-1, 1] -> [0, 1]
        bce = F.binary_cross_entropy_with_logits(loc.float(), target.float(), reduction="none")
        return -bce.flatten(1).sum(1)

    def mean(self, loc, log_scale):
        return torch.sigmoid(loc) * 2 - 1


@LIKELIHOODS.register("logistic", help="discretised logistic over 256 bins, learned scale")
class DiscretisedLogistic(Likelihood):
    def log_prob(self, loc, log_scale, x):
        lp = discretised_log_prob(F.logsigmoid, x.float(), loc.float(), log_scale.float())
        return lp.flatten(1).sum(1)


@LIKELIHOODS.register("gaussian", help="discretised Gaussian over 256 bins, learned std per pixel")
class DiscretisedGaussian(Likelihood):
    def log_prob(self, loc, log_scale, x):
        lp = discretised_log_prob(torch.special.log_ndtr, x.float(), loc.float(),
                                  self.scale(log_scale).float())
        return lp.flatten(1).sum(1)

    def scale(self, log_scale: torch.Tensor) -> torch.Tensor:
        return log_scale


@LIKELIHOODS.register("gaussian-fixed",
                      help="discretised Gaussian over 256 bins, std = objective.fixed_std")
class FixedGaussian(DiscretisedGaussian):
    def scale(self, log_scale):
        return torch.full_like(log_scale, math.log(self.cfg.fixed_std))
