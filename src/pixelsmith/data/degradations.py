"""Degradations: clean image -> observation, for training and evaluating restorers.

Every degradation works on float images in [0, 1] ("intensity"), because noise levels are
defined on the 0-255 scale (σ = 25 means 25/255 here) and Poisson / salt-and-pepper noise
are defined on intensities. ``deg(x01, generator)`` returns ``(y, known)``: the observation
and what a non-blind method may know about the degradation (``sigma`` as (N,) on the
0-255 scale, ``kernel`` as (N, k, k), ``scale`` as int). With a ``generator`` (on x01's
device) the result is a pure function of its seed: evaluation sets are reproducible. With
``None`` the global RNG of the device is used, which the trainer saves for exact resume.

    deg = make_degradation("gaussian-noise", sigma=25)
    y, known = deg(x01)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import DEGRADATIONS


def crop_to_multiple(x: torch.Tensor, s: int) -> torch.Tensor:
    """Crop the bottom/right of (..., H, W) so H and W are multiples of ``s`` (the papers'
    "modcrop" before bicubic downsampling: the HR image must be exactly s times the LR)."""
    h, w = x.shape[-2:]
    return x[..., : h - h % s, : w - w % s]


def _check_number(deg: str, key: str, value, lo: float | None = None, hi: float | None = None,
                  *, integer: bool = False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise PixelsmithError(f"degradation '{deg}': {key} must be "
                              f"{'an integer' if integer else 'a number'}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if lo is not None and hi is not None else (
            f">= {lo}" if lo is not None else f"<= {hi}")
        raise PixelsmithError(f"degradation '{deg}': {key} must be {rng}, got {value!r}")


def check_unit_images(x01: torch.Tensor, what: str) -> None:
    """One-line error unless ``x01`` is a float (N, C, H, W) tensor (degradations and
    baselines take [0, 1] images); ``what`` names the caller, e.g. "degradation 'blur'"."""
    if not torch.is_tensor(x01) or x01.dim() != 4 or not x01.is_floating_point():
        shape = tuple(x01.shape) if torch.is_tensor(x01) else type(x01).__name__
        raise PixelsmithError(f"{what} needs float (N, C, H, W) images in [0, 1], got {shape}")


def _check_input(x01: torch.Tensor, name: str) -> None:
    check_unit_images(x01, f"degradation '{name}'")


def _randn(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _rand(shape, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype)


def _per_image(value: float, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), float(value), device=x.device, dtype=x.dtype)


def _add_noise(x: torch.Tensor, sigma: torch.Tensor, generator) -> torch.Tensor:
    """x + σ/255 · n, σ of shape (N,) on the 0-255 scale; not clipped (the papers' convention)."""
    return x + (sigma / 255.0).view(-1, 1, 1, 1) * _randn(x, generator)


class Degradation:
    """Base: subclasses are dataclasses of their parameters, validated in ``__post_init__``."""

    name = ""

    def __call__(self, x01: torch.Tensor, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, dict]:
        _check_input(x01, self.name)
        return self.apply(x01, generator)

    def apply(self, x01, generator):  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def params(self) -> dict:
        return dataclasses.asdict(self)


@DEGRADATIONS.register("gaussian-noise", help="additive white Gaussian noise: sigma (0-255 "
                       "scale), or sigma_min/sigma_max for a blind range drawn per image")
@dataclass
class GaussianNoise(Degradation):
    sigma: float | None = None  # fixed level; 25 when no blind range is given either
    sigma_min: float | None = None  # blind range: σ ~ U[sigma_min, sigma_max] per image
    sigma_max: float | None = None
    name = "gaussian-noise"

    def __post_init__(self):
        blind = self.sigma_min is not None or self.sigma_max is not None
        if blind:
            if self.sigma is not None:
                raise PixelsmithError("degradation 'gaussian-noise': give either sigma or "
                                      "sigma_min/sigma_max (a blind range), not both")
            if self.sigma_min is None or self.sigma_max is None:
                raise PixelsmithError("degradation 'gaussian-noise': a blind range needs both "
                                      "sigma_min and sigma_max")
            _check_number(self.name, "sigma_min", self.sigma_min, 0, 255)
            _check_number(self.name, "sigma_max", self.sigma_max, 0, 255)
            if self.sigma_min > self.sigma_max:
                raise PixelsmithError(f"degradation 'gaussian-noise': sigma_min "
                                      f"({self.sigma_min}) must be <= sigma_max "
                                      f"({self.sigma_max})")
        else:
            if self.sigma is None:
                self.sigma = 25.0
            _check_number(self.name, "sigma", self.sigma, 0, 255)

    def apply(self, x, generator):
        if self.sigma is not None:
            sigma = _per_image(self.sigma, x)
        else:
            u = _rand((x.shape[0],), x, generator)
            sigma = self.sigma_min + (self.sigma_max - self.sigma_min) * u
        return _add_noise(x, sigma, generator), {"sigma": sigma}


@DEGRADATIONS.register("poisson-gaussian", help="signal-dependent shot noise at a photon "
                       "count 'peak' for intensity 1, plus Gaussian read noise sigma")
@dataclass
class PoissonGaussian(Degradation):
    peak: float = 30.0  # photons at intensity 1: lower = noisier
    sigma: float = 5.0  # Gaussian part, 0-255 scale
    name = "poisson-gaussian"

    def __post_init__(self):
        _check_number(self.name, "peak", self.peak, 1e-3)
        _check_number(self.name, "sigma", self.sigma, 0, 255)

    def apply(self, x, generator):
        counts = torch.poisson((x.clamp(0, 1) * self.peak).float(), generator=generator)
        y = (counts / self.peak).to(x.dtype)
        sigma = _per_image(self.sigma, x)
        return _add_noise(y, sigma, generator), {"sigma": sigma, "peak": float(self.peak)}


@DEGRADATIONS.register("salt-pepper", help="impulse noise: a fraction 'amount' of pixels set "
                       "to 0 or 1 (all channels of a pixel together)")
@dataclass
class SaltPepper(Degradation):
    amount: float = 0.1  # fraction of pixels hit
    salt_ratio: float = 0.5  # of those, the fraction set to 1 (white)
    name = "salt-pepper"

    def __post_init__(self):
        _check_number(self.name, "amount", self.amount, 0, 1)
        _check_number(self.name, "salt_ratio", self.salt_ratio, 0, 1)

    def apply(self, x, generator):
        n, _, h, w = x.shape
        hit = _rand((n, 1, h, w), x, generator) < self.amount
        salt = _rand((n, 1, h, w), x, generator) < self.salt_ratio
        y = torch.where(hit, salt.to(x.dtype), x)
        return y, {"amount": float(self.amount)}


def gaussian_kernel(size: int, std: float) -> torch.Tensor:
    """(size, size) isotropic Gaussian, sums to 1."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * std**2))
    k = g[:, None] * g[None, :]
    return (k / k.sum()).float()


def motion_kernels(length: float, angles: torch.Tensor, size: int) -> torch.Tensor:
    """(N, size, size) straight-line motion blurs of ``length`` pixels, one per angle in
    ``angles`` (N,) degrees (counter-clockwise from the x axis), through the centre; each
    sums to 1. Computed on ``angles``' device and dtype, without reading anything back, so
    random angles drawn on a GPU cost no synchronisation. The segment is sampled densely and
    splatted bilinearly, so non-integer lengths and any angle work."""
    n = angles.shape[0]
    t = torch.linspace(-0.5, 0.5, max(2, int(math.ceil(length * 8))), dtype=angles.dtype,
                       device=angles.device)
    a = torch.deg2rad(angles)[:, None]  # (N, 1)
    c = (size - 1) / 2
    xs, ys = c + t * length * a.cos(), c - t * length * a.sin()  # (N, T); image y points down
    x0, y0 = xs.floor(), ys.floor()
    fx, fy = xs - x0, ys - y0
    k = torch.zeros(n, size * size, dtype=angles.dtype, device=angles.device)
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                        (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi = (x0 + dx).long().clamp(0, size - 1)
        yi = (y0 + dy).long().clamp(0, size - 1)
        k.scatter_add_(1, yi * size + xi, wgt)
    k = k / k.sum(1, keepdim=True)
    return k.view(n, size, size)


def motion_kernel(length: float, angle: float, size: int) -> torch.Tensor:
    """(size, size) motion blur at one ``angle`` (see ``motion_kernels``), computed in
    float64 and returned as float32."""
    return motion_kernels(length, torch.tensor([float(angle)], dtype=torch.float64),
                          size)[0].float()


def blur_image(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve each channel of (N, C, H, W) with a (k, k) kernel shared by all images, or
    with image i's own kernel from (N, k, k); reflect padding."""
    k = kernel.shape[-1]
    p = k // 2
    if x.shape[-1] <= p or x.shape[-2] <= p:
        raise PixelsmithError(f"blur kernel of size {k} needs images larger than {p} pixels, "
                              f"got {tuple(x.shape[-2:])}")
    n, c, h, w = x.shape
    pad = F.pad(x, (p, p, p, p), mode="reflect")
    # conv2d is a correlation: flip the kernel so this is a true convolution
    kernel = kernel.flip(-1, -2).to(x)
    if kernel.dim() == 2:
        return F.conv2d(pad, kernel.expand(c, 1, k, k), groups=c)
    # one group per (image, channel): the batch folded into the channels, one conv call
    weight = kernel.repeat_interleave(c, dim=0)[:, None]  # (N*C, 1, k, k)
    out = F.conv2d(pad.reshape(1, n * c, h + 2 * p, w + 2 * p), weight, groups=n * c)
    return out.view(n, c, h, w)


@DEGRADATIONS.register("blur", help="Gaussian (std) or motion (length, angle; random angle "
                       "per image when unset) blur with reflect padding, plus Gaussian noise sigma")
@dataclass
class Blur(Degradation):
    kernel: str = "gaussian"  # gaussian or motion
    size: int = 15  # kernel side (odd)
    std: float = 1.6  # Gaussian kernel's standard deviation in pixels
    length: float = 9.0  # motion: length of the line in pixels
    angle: float | None = None  # motion: degrees; None draws one per image from the generator
    sigma: float = 2.55  # noise after blurring, 0-255 scale (1%, a common benchmark level)
    name = "blur"

    def __post_init__(self):
        if self.kernel not in ("gaussian", "motion"):
            raise PixelsmithError(f"degradation 'blur': kernel must be gaussian or motion, "
                                  f"got {self.kernel!r}")
        _check_number(self.name, "size", self.size, 1, 99, integer=True)
        if self.size % 2 == 0:
            raise PixelsmithError(f"degradation 'blur': size must be odd, got {self.size}")
        _check_number(self.name, "std", self.std, 1e-3)
        _check_number(self.name, "length", self.length, 1, self.size)
        if self.angle is not None:
            _check_number(self.name, "angle", self.angle)
        _check_number(self.name, "sigma", self.sigma, 0, 255)

    def make_kernel(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(k, k) when all images share the kernel, else (N, k, k): a motion blur without
        ``angle`` draws each image's angle on x's device (no host synchronisation)."""
        if self.kernel == "gaussian":
            return gaussian_kernel(self.size, self.std).to(x.device)
        if self.angle is not None:
            return motion_kernel(self.length, self.angle, self.size).to(x.device)
        angles = _rand((x.shape[0],), x, generator).float() * 180.0
        return motion_kernels(self.length, angles, self.size)

    def apply(self, x, generator):
        kernel = self.make_kernel(x, generator)
        sigma = _per_image(self.sigma, x)
        y = _add_noise(blur_image(x, kernel), sigma, generator)
        if kernel.dim() == 2:  # known: always one kernel per image
            kernel = kernel.expand(x.shape[0], *kernel.shape)
        return y, {"kernel": kernel, "sigma": sigma}


@DEGRADATIONS.register("bicubic-down", help="bicubic downsampling by scale 2, 3 or 4 "
                       "(torch bicubic with antialias, approximating MATLAB imresize)")
@dataclass
class BicubicDown(Degradation):
    """y = bicubic downsampling of x by ``scale``, clipped to [0, 1].

    The super-resolution papers (SRCNN, EDSR) make their low-resolution images with
    MATLAB's ``imresize``, which widens the cubic kernel (a = -0.5) when shrinking. Torch's
    ``interpolate(mode="bicubic", antialias=True)`` does the same widening with the same
    kernel, so it approximates ``imresize`` closely but not bit for bit (rounding and border
    handling differ), which can move PSNR by a few hundredths of a dB.
    """

    scale: int = 2
    name = "bicubic-down"

    def __post_init__(self):
        _check_number(self.name, "scale", self.scale, integer=True)
        if self.scale not in (2, 3, 4):
            raise PixelsmithError(f"degradation 'bicubic-down': scale must be 2, 3 or 4, "
                                  f"got {self.scale}")

    def apply(self, x, generator):
        s = self.scale
        h, w = x.shape[-2:]
        if h % s or w % s:
            raise PixelsmithError(f"bicubic-down x{s} needs H and W divisible by {s}, got "
                                  f"{h}x{w}; crop first with crop_to_multiple(x, {s})")
        y = F.interpolate(x, size=(h // s, w // s), mode="bicubic", antialias=True,
                          align_corners=False)
        return y.clamp(0, 1), {"scale": s}


def make_degradation(name: str, **params) -> Degradation:
    """The registered degradation ``name`` with ``params``; unknown names, unknown
    parameters and bad values are one-line PixelsmithErrors naming them."""
    entry = DEGRADATIONS.entry(name)
    cls = entry.obj
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise PixelsmithError(f"degradation '{name}' has no parameter '{unknown[0]}'; valid "
                              f"parameters are: {', '.join(valid)}")
    return cls(**params)
