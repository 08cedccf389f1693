"""Paired metrics for restorers: PSNR and SSIM of an output against its clean image.

Images are float tensors in [-1, 1], (N, C, H, W); values are computed on the [0, 1] scale
(data range 1), i.e. the usual PSNR on 8-bit images up to the quantisation. ``mask`` (1 =
pixel counted) restricts the score to a region, e.g. the filled hole of an inpainting.
"""

from __future__ import annotations

import torch

from pixelsmith.errors import PixelsmithError


def _check(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
    if x.shape != y.shape or x.dim() != 4:
        raise PixelsmithError(f"paired metrics need two (N, C, H, W) tensors of one shape, "
                              f"got {tuple(x.shape)} and {tuple(y.shape)}")
    if mask is None:
        return None
    mask = mask.to(x.dtype).expand_as(x)
    return mask


def _unit(x: torch.Tensor) -> torch.Tensor:
    return (x.double() + 1) / 2  # [-1, 1] -> [0, 1]


def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR in dB, shape (N,); with a mask, the MSE is over the masked pixels."""
    m = _check(x, y, mask)
    err = (_unit(x) - _unit(y)) ** 2
    if m is None:
        mse = err.flatten(1).mean(1)
    else:
        m = m.double()
        mse = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
    return 10 * torch.log10(1.0 / mse.clamp(min=1e-20))


def ssim(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image SSIM (Gaussian window 11, sigma 1.5), shape (N,), by torchmetrics. The SSIM
    map has the image's size (torchmetrics pads by reflection, 5 px); its mean is the score,
    and the mask (when given) picks which positions of the map are averaged."""
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    m = _check(x, y, mask)
    score, smap = tm_ssim(_unit(x), _unit(y), data_range=1.0, reduction="none",
                          return_full_image=True)
    if m is None:
        return score
    m = m.double()
    return (smap * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
