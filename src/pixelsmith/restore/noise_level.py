"""Estimate the level of additive white Gaussian noise in a picture, so a blind denoiser
that reads the level (a noise-level map, as FFDNet/DRUNet) can be used without being told.

Donoho & Johnstone's wavelet estimator: the finest diagonal Haar detail coefficients of
a natural image are nearly all noise, and their median absolute value over 0.6745 is the
noise standard deviation (robust to the few edges that leak into that band). It slightly
overestimates on heavily textured pictures at low noise, where any level from 0 to about
5 restores alike.
"""

from __future__ import annotations

import torch

MAD_TO_SIGMA = 0.6745  # median |N(0, 1)|


def estimate_sigma(y01: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) pictures in [0, 1] -> (N,) noise standard deviation on the 0-255 scale,
    pooled over the channels."""
    if y01.dim() != 4 or min(y01.shape[-2:]) < 2:
        raise ValueError(f"estimate_sigma wants (N, C, H>=2, W>=2) pictures, got "
                         f"{tuple(y01.shape)}")
    h, w = y01.shape[-2] // 2 * 2, y01.shape[-1] // 2 * 2
    x = y01[..., :h, :w].float()
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    hh = (a - b - c + d) / 2  # (N, C, H/2, W/2): orthonormal Haar diagonal band
    mad = hh.flatten(1).abs().median(dim=1).values
    return mad / MAD_TO_SIGMA * 255
