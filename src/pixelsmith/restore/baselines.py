"""Classical restoration baselines, scored by the same code as the networks (BASELINES).

Each entry is ``fn(y01, known, **params) -> x01_hat``: y01 float (N, C, H, W) in [0, 1] (a
noisy observation may stray outside it: it is not clipped), ``known`` what the degradation
says about itself (``sigma`` (N,) on the 0-255 scale, ``scale``), output float in [0, 1].

- ``gaussian-filter``: blur with a Gaussian of std ``std`` pixels. When not given, std
  follows the noise level: ``std = 0.4 + sigma / 50`` (0.7 at sigma 15, 0.9 at 25, 1.4 at
  50), a rule fitted by hand to the best std on 8 Train400 training images, not the test
  sets.
- ``median-filter``: the median of a ``size`` x ``size`` window (3 or 5). When not given,
  3 for sigma < 20 and 5 above (the better of the two on the same Train400 images).
- ``bicubic``: upsampling by ``known["scale"]`` with the Keys cubic (a = -0.5) of MATLAB's
  ``imresize`` and Pillow (torch's antialiased bicubic). The plain torch bicubic uses
  a = -0.75 (OpenCV's): sharper, about 0.2-0.3 dB higher on Set5, but not the "bicubic"
  the papers report.
- ``bm3d``: BM3D (Dabov et al. 2007) for gray and CBM3D for colour, from the ``bm3d`` package
  (``pip install "pixelsmith[baselines]"``); told the true sigma. On the CPU, seconds per
  image.

The filters pad by reflection, so borders are not darkened.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pixelsmith.data.degradations import check_unit_images
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import BASELINES


def _check_images(y01: torch.Tensor, name: str) -> None:
    check_unit_images(y01, f"baseline '{name}'")


def _sigma(known: dict, name: str, n: int) -> torch.Tensor:
    """known["sigma"] as a CPU float tensor of shape (N,)."""
    if "sigma" not in known:
        raise PixelsmithError(f"baseline '{name}' needs the noise level: known['sigma'] "
                              f"(0-255 scale) or an explicit parameter")
    sigma = torch.as_tensor(known["sigma"], dtype=torch.float64).flatten().cpu()
    return sigma.expand(n) if sigma.numel() == 1 else sigma


def _reflect_pad(x: torch.Tensor, r: int) -> torch.Tensor:
    # reflection needs r < side; very small images fall back to replication
    mode = "reflect" if r < min(x.shape[-2:]) else "replicate"
    return F.pad(x, (r, r, r, r), mode=mode)


def gaussian_blur(x: torch.Tensor, std: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), radius ceil(3 std), reflection at borders."""
    r = max(1, math.ceil(3 * std))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * std**2))
    k = k / k.sum()
    n, c, h, w = x.shape
    flat = _reflect_pad(x.reshape(n * c, 1, h, w), r)  # (NC, 1, H+2r, W+2r)
    flat = F.conv2d(flat, k.view(1, 1, 1, -1))  # rows
    flat = F.conv2d(flat, k.view(1, 1, -1, 1))  # columns
    return flat.view(n, c, h, w)


def median_filter(x: torch.Tensor, size: int) -> torch.Tensor:
    """Median of each size x size window of (N, C, H, W), reflection at borders."""
    n, c, h, w = x.shape
    r = size // 2
    flat = _reflect_pad(x.reshape(n * c, 1, h, w), r)
    windows = F.unfold(flat, size)  # (NC, size*size, H*W)
    return windows.median(dim=1).values.view(n, c, h, w)


@BASELINES.register("gaussian-filter",
                    help="Gaussian blur; std from sigma (0.4 + sigma/50) or the std param")
def gaussian_filter(y01: torch.Tensor, known: dict, std: float | None = None) -> torch.Tensor:
    _check_images(y01, "gaussian-filter")
    if std is not None:
        if isinstance(std, bool) or not isinstance(std, (int, float)) or std <= 0:
            raise PixelsmithError(f"baseline 'gaussian-filter': std must be > 0, got {std!r}")
        return gaussian_blur(y01, float(std)).clamp(0, 1)
    stds = 0.4 + _sigma(known, "gaussian-filter", y01.shape[0]) / 50
    out = [gaussian_blur(y01[i:i + 1], float(s)) for i, s in enumerate(stds)]
    return torch.cat(out).clamp(0, 1)


@BASELINES.register("median-filter",
                    help="median of a 3x3 or 5x5 window; size from sigma or the size param")
def median_filter_baseline(y01: torch.Tensor, known: dict, size: int | None = None
                           ) -> torch.Tensor:
    _check_images(y01, "median-filter")
    if size is not None:
        if size not in (3, 5):
            raise PixelsmithError(f"baseline 'median-filter': size must be 3 or 5, got {size!r}")
        return median_filter(y01, size).clamp(0, 1)
    sizes = [3 if s < 20 else 5 for s in _sigma(known, "median-filter", y01.shape[0]).tolist()]
    out = [median_filter(y01[i:i + 1], s) for i, s in enumerate(sizes)]
    return torch.cat(out).clamp(0, 1)


@BASELINES.register("bicubic", help="bicubic upsampling by known['scale'] (a = -0.5, MATLAB's)")
def bicubic(y01: torch.Tensor, known: dict, scale: int | None = None) -> torch.Tensor:
    _check_images(y01, "bicubic")
    s = scale if scale is not None else known.get("scale")
    if s is None:
        raise PixelsmithError("baseline 'bicubic' needs known['scale'] or a scale parameter")
    s = int(s)
    if s < 1:
        raise PixelsmithError(f"baseline 'bicubic': scale must be >= 1, got {s}")
    h, w = y01.shape[-2:]
    # antialias=True selects torch's Pillow-derived kernel with a = -0.5 (the plain bicubic
    # mode uses a = -0.75); when enlarging, it does not widen the kernel, so this is the
    # textbook Keys interpolation as in MATLAB imresize
    out = F.interpolate(y01, size=(h * s, w * s), mode="bicubic", antialias=True,
                        align_corners=False)
    return out.clamp(0, 1)


def _bm3d_module():
    try:
        import bm3d
    except ImportError:
        raise PixelsmithError('baseline \'bm3d\' needs the bm3d package: '
                              'pip install "pixelsmith[baselines]"') from None
    return bm3d


@BASELINES.register("bm3d", help="BM3D (gray) / CBM3D (colour), given sigma; needs the bm3d "
                    "package (the 'baselines' extra)")
def bm3d_baseline(y01: torch.Tensor, known: dict, profile: str = "np") -> torch.Tensor:
    _check_images(y01, "bm3d")
    lib = _bm3d_module()
    if y01.shape[1] not in (1, 3):
        raise PixelsmithError(f"baseline 'bm3d' needs 1 or 3 channels, got {y01.shape[1]}")
    sigmas = _sigma(known, "bm3d", y01.shape[0])
    out = []
    for img, s in zip(y01.detach().double().cpu(), sigmas.tolist()):
        z = img.permute(1, 2, 0).numpy()  # (H, W, C), float64, not clipped
        if img.shape[0] == 1:
            est = lib.bm3d(z[..., 0], sigma_psd=s / 255, profile=profile)
        else:  # CBM3D: grouping on luma in an opponent colour space, as in the paper
            est = lib.bm3d_rgb(z, sigma_psd=s / 255, profile=profile)
        est = torch.from_numpy(est.copy()).reshape(img.shape[1], img.shape[2], -1)
        out.append(est.permute(2, 0, 1))
    return torch.stack(out).to(y01.device, y01.dtype).clamp(0, 1)
