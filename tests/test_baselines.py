"""Classical restoration baselines: registered, reduce noise, bicubic sizes and kernel, bm3d."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import pixelsmith.components  # noqa: F401  (fills the registries)
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.restoration_protocol import psnr255
from pixelsmith.registry import BASELINES
from pixelsmith.restore.baselines import gaussian_blur, median_filter


def _smooth_image(n=2, c=1, h=48, w=40, seed=0):
    """Piecewise-smooth test pictures: low-frequency waves plus a bright square."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    imgs = []
    for _ in range(n):
        f = torch.rand(c, 3, generator=g) * 4 + 1
        img = 0.5 + 0.25 * torch.sin(f[:, :1, None] * xx * 3) * torch.cos(f[:, 1:2, None] * yy * 3)
        img[:, h // 4:h // 2, w // 4:w // 2] += 0.2
        imgs.append(img.clamp(0, 1))
    return torch.stack(imgs).double()  # (N, C, H, W) in [0, 1]


def _noisy(x, sigma, seed=1):
    g = torch.Generator().manual_seed(seed)
    y = x + sigma / 255 * torch.randn(x.shape, generator=g, dtype=x.dtype)
    return y, {"sigma": torch.full((x.shape[0],), float(sigma))}


def _gain(x, y, x_hat):
    return (psnr255(x_hat * 255, x * 255) - psnr255(y * 255, x * 255)).min().item()


def test_registered():
    assert {"gaussian-filter", "median-filter", "bicubic", "bm3d"} <= set(BASELINES.names())


@pytest.mark.parametrize("name", ["gaussian-filter", "median-filter"])
@pytest.mark.parametrize("sigma", [15, 50])
@pytest.mark.parametrize("channels", [1, 3])
def test_filters_reduce_noise(name, sigma, channels):
    x = _smooth_image(c=channels)
    y, known = _noisy(x, sigma)
    x_hat = BASELINES.get(name)(y, known)
    assert x_hat.shape == x.shape and x_hat.min() >= 0 and x_hat.max() <= 1
    assert _gain(x, y, x_hat) > 3  # dB better than the noisy input on every image


def test_filters_follow_the_documented_rules():
    x = _smooth_image(n=1)
    y, known = _noisy(x, 25)
    # std = 0.4 + 25/50 = 0.9; size 5 because sigma >= 20
    assert torch.allclose(BASELINES.get("gaussian-filter")(y, known),
                          gaussian_blur(y, 0.9).clamp(0, 1))
    assert torch.equal(BASELINES.get("median-filter")(y, known), median_filter(y, 5).clamp(0, 1))
    assert torch.equal(BASELINES.get("median-filter")(y, {"sigma": torch.tensor([10.0])}),
                       median_filter(y, 3).clamp(0, 1))
    assert torch.equal(BASELINES.get("median-filter")(y, {}, size=3),
                       median_filter(y, 3).clamp(0, 1))


def test_gaussian_blur_and_median_by_hand():
    flat = torch.full((1, 1, 9, 9), 0.3, dtype=torch.float64)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat)  # the kernel sums to 1, even at borders
    img = torch.zeros(1, 1, 7, 7)
    img[0, 0, 3, 3] = 1.0  # one impulse: a 3x3 median removes it entirely
    assert median_filter(img, 3).abs().max() == 0
    ramp = torch.arange(25.0).view(1, 1, 5, 5)
    assert median_filter(ramp, 3)[0, 0, 2, 2] == 12  # the centre window's median


def test_filter_errors():
    y = torch.rand(1, 1, 8, 8)
    with pytest.raises(PixelsmithError, match="'gaussian-filter' needs the noise level"):
        BASELINES.get("gaussian-filter")(y, {})
    with pytest.raises(PixelsmithError, match="std must be > 0"):
        BASELINES.get("gaussian-filter")(y, {}, std=-1)
    with pytest.raises(PixelsmithError, match="size must be 3 or 5, got 4"):
        BASELINES.get("median-filter")(y, {}, size=4)
    with pytest.raises(PixelsmithError, match="needs float \\(N, C, H, W\\)"):
        BASELINES.get("median-filter")(torch.rand(8, 8), {}, size=3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_shapes_and_kernel(scale):
    from PIL import Image

    lr = torch.rand(2, 3, 11, 13, generator=torch.Generator().manual_seed(scale))
    up = BASELINES.get("bicubic")(lr, {"scale": scale})
    assert up.shape == (2, 3, 11 * scale, 13 * scale)
    # the same Keys (a = -0.5) interpolation as Pillow, whose kernel is MATLAB imresize's
    pil = Image.fromarray(lr[0, 0].numpy(), mode="F").resize((13 * scale, 11 * scale),
                                                             Image.BICUBIC)
    expected = torch.from_numpy(np.array(pil)).clamp(0, 1)
    assert torch.allclose(up[0, 0], expected, atol=1e-5)
    with pytest.raises(PixelsmithError, match="needs known\\['scale'\\]"):
        BASELINES.get("bicubic")(lr, {})


def test_bicubic_beats_nearest_on_a_smooth_image():
    x = _smooth_image(c=3, h=48, w=48)
    lr = F.interpolate(x, size=(24, 24), mode="bicubic", antialias=True)
    up = BASELINES.get("bicubic")(lr, {"scale": 2})
    nearest = F.interpolate(lr, scale_factor=2, mode="nearest")
    assert (psnr255(up * 255, x * 255) > psnr255(nearest * 255, x * 255) + 1).all()


def test_bm3d_improves_psnr():
    pytest.importorskip("bm3d", reason="the bm3d package is not installed (pixelsmith[baselines])")
    x = _smooth_image(n=1, h=32, w=32)
    y, known = _noisy(x, 25)
    x_hat = BASELINES.get("bm3d")(y, known)
    assert x_hat.shape == x.shape
    assert _gain(x, y, x_hat) > 5
    # it beats the Gaussian filter, as it should
    gauss = BASELINES.get("gaussian-filter")(y, known)
    assert psnr255(x_hat * 255, x * 255) > psnr255(gauss * 255, x * 255)
