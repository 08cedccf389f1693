"""Degradations: noise statistics, kernels, shapes, determinism and parameter errors."""

import pytest
import torch
import torch.nn.functional as F

from pixelsmith.data.degradations import (
    blur_image,
    crop_to_multiple,
    gaussian_kernel,
    make_degradation,
    motion_kernel,
)
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import DEGRADATIONS


def flat(n=2, c=1, h=256, w=256, value=0.5):
    return torch.full((n, c, h, w), value)


def test_registry_has_every_degradation():
    assert {"gaussian-noise", "poisson-gaussian", "salt-pepper", "blur",
            "bicubic-down"} <= set(DEGRADATIONS.names())


@pytest.mark.parametrize("sigma", [5, 25, 50])
def test_gaussian_noise_measured_sigma_matches(sigma):
    x = flat()
    y, known = make_degradation("gaussian-noise", sigma=sigma)(x, torch.Generator().manual_seed(0))
    measured = ((y - x) * 255).std().item()
    assert abs(measured - sigma) < 0.01 * sigma + 0.05
    assert abs(((y - x) * 255).mean().item()) < 4 * sigma / x.numel() ** 0.5  # 4 std errors
    assert torch.equal(known["sigma"], torch.full((2,), float(sigma)))
    bright, _ = make_degradation("gaussian-noise", sigma=sigma)(flat(value=1.0))
    assert bright.max() > 1  # not clipped: the papers' convention


def test_gaussian_blind_range_draws_sigma_per_image():
    x = flat(n=64, h=64, w=64)
    y, known = make_degradation("gaussian-noise", sigma_min=0, sigma_max=55)(
        x, torch.Generator().manual_seed(1))
    s = known["sigma"]
    assert s.shape == (64,) and s.min() >= 0 and s.max() <= 55 and s.std() > 5
    measured = ((y - x) * 255).flatten(1).std(1)
    assert torch.allclose(measured, s, atol=0.06 * 55)


def test_poisson_gaussian_variance_follows_intensity():
    deg = make_degradation("poisson-gaussian", peak=20, sigma=0)
    g = torch.Generator().manual_seed(2)
    for v in (0.2, 0.8):
        x = flat(value=v)
        y, _ = deg(x, g)
        # Var[P(v*peak)/peak] = v / peak
        assert abs(y.var().item() - v / 20) < 0.05 * v / 20
        assert abs(y.mean().item() - v) < 0.01


def test_salt_pepper_fraction():
    y, _ = make_degradation("salt-pepper", amount=0.2)(flat(c=3), torch.Generator().manual_seed(3))
    hit = (y != 0.5).all(1)  # all channels of a hit pixel change together
    assert abs(hit.float().mean().item() - 0.2) < 0.01
    assert set(y.unique().tolist()) == {0.0, 0.5, 1.0}


def test_kernels_sum_to_one_and_are_centred():
    g = gaussian_kernel(15, 1.6)
    assert abs(g.sum().item() - 1) < 1e-6 and g.argmax().item() == 7 * 15 + 7
    for angle in (0, 30, 45, 90, 137):
        m = motion_kernel(9, angle, 15)
        assert abs(m.sum().item() - 1) < 1e-6 and (m >= 0).all()
        # centre of mass at the centre pixel
        r = torch.arange(15.0)
        assert abs((m.sum(0) * r).sum().item() - 7) < 1e-4
        assert abs((m.sum(1) * r).sum().item() - 7) < 1e-4
    horizontal = motion_kernel(9, 0, 15)
    assert horizontal[7].sum() > 0.999  # a horizontal line stays in the middle row


def test_blur_matches_reflect_padded_convolution():
    x = torch.rand(1, 2, 20, 24, generator=torch.Generator().manual_seed(4))
    deg = make_degradation("blur", kernel="motion", length=5, angle=30, size=7, sigma=0)
    y, known = deg(x)
    assert known["kernel"].shape == (1, 7, 7)  # one kernel per image
    k = known["kernel"][0]
    assert abs(k.sum().item() - 1) < 1e-6
    # independent computation: per-pixel weighted sum of the reflect-padded neighbourhood
    pad = F.pad(x, (3, 3, 3, 3), mode="reflect")
    ref = torch.zeros_like(x)
    for i in range(7):
        for j in range(7):
            ref += k[6 - i, 6 - j] * pad[..., i : i + 20, j : j + 24]
    assert torch.allclose(y, ref, atol=1e-6)
    flat_y, _ = deg(flat(n=1, h=32, w=32))  # a flat image stays flat (kernel sums to 1)
    assert torch.allclose(flat_y, torch.full_like(flat_y, 0.5), atol=1e-6)


def test_random_motion_angle_is_seeded():
    deg = make_degradation("blur", kernel="motion", length=9)
    x = torch.rand(1, 1, 32, 32)
    k1 = deg(x, torch.Generator().manual_seed(5))[1]["kernel"]
    k2 = deg(x, torch.Generator().manual_seed(5))[1]["kernel"]
    k3 = deg(x, torch.Generator().manual_seed(6))[1]["kernel"]
    assert torch.equal(k1, k2) and not torch.equal(k1, k3)


def test_random_motion_blur_draws_one_kernel_per_image():
    deg = make_degradation("blur", kernel="motion", length=7, size=9, sigma=0)
    x = torch.rand(3, 2, 16, 16, generator=torch.Generator().manual_seed(1))
    y, known = deg(x, torch.Generator().manual_seed(5))
    k = known["kernel"]
    assert k.shape == (3, 9, 9)
    assert torch.allclose(k.sum((1, 2)), torch.ones(3), atol=1e-6) and (k >= 0).all()
    assert not torch.equal(k[0], k[1]) and not torch.equal(k[1], k[2])
    # the angles are the generator's first 3 uniforms: the same kernels made one at a time
    angles = torch.rand(3, generator=torch.Generator().manual_seed(5)) * 180
    for i in range(3):
        assert torch.allclose(k[i], motion_kernel(7, angles[i].item(), 9), atol=1e-6)
        # and each image blurred with its own kernel, as the shared-kernel path does it
        assert torch.allclose(y[i : i + 1], blur_image(x[i : i + 1], k[i]), atol=1e-6)
    y2, known2 = deg(x, torch.Generator().manual_seed(5))  # seeded: the same observation
    assert torch.equal(y2, y) and torch.equal(known2["kernel"], k)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_down_shapes(scale):
    x = crop_to_multiple(torch.rand(2, 3, 50, 37), scale)
    assert x.shape[-2:] == (50 - 50 % scale, 37 - 37 % scale)
    y, known = make_degradation("bicubic-down", scale=scale)(x)
    assert y.shape == (2, 3, x.shape[2] // scale, x.shape[3] // scale) and known["scale"] == scale
    assert y.min() >= 0 and y.max() <= 1
    f, _ = make_degradation("bicubic-down", scale=scale)(flat(n=1, h=24, w=24))
    assert torch.allclose(f, torch.full_like(f, 0.5), atol=1e-6)
    with pytest.raises(PixelsmithError, match="crop_to_multiple"):
        make_degradation("bicubic-down", scale=scale)(torch.rand(1, 1, 25, 25))


@pytest.mark.parametrize("name,params", [
    ("gaussian-noise", {"sigma": 25}), ("gaussian-noise", {"sigma_min": 0, "sigma_max": 55}),
    ("poisson-gaussian", {}), ("salt-pepper", {}), ("blur", {"kernel": "motion"}),
    ("blur", {}), ("bicubic-down", {"scale": 3}),
])
def test_same_seed_same_observation(name, params):
    x = torch.rand(3, 3, 30, 30, generator=torch.Generator().manual_seed(7))
    deg = make_degradation(name, **params)
    y1, _ = deg(x, torch.Generator().manual_seed(11))
    y2, _ = deg(x, torch.Generator().manual_seed(11))
    assert torch.equal(y1, y2)
    if name != "bicubic-down":
        y3, _ = deg(x, torch.Generator().manual_seed(12))
        assert not torch.equal(y1, y3)


@pytest.mark.parametrize("name,params,match", [
    ("gaussian-nois", {}, "unknown degradation 'gaussian-nois'"),
    ("gaussian-noise", {"sigmaa": 3}, "no parameter 'sigmaa'"),
    ("gaussian-noise", {"sigma": -1}, "sigma must be in"),
    ("gaussian-noise", {"sigma": "high"}, "sigma must be a number"),
    ("gaussian-noise", {"sigma_min": 10}, "both sigma_min and sigma_max"),
    ("gaussian-noise", {"sigma_min": 30, "sigma_max": 10}, "sigma_min"),
    ("gaussian-noise", {"sigma": 5, "sigma_min": 0, "sigma_max": 9}, "not both"),
    ("blur", {"kernel": "box"}, "kernel must be gaussian or motion"),
    ("blur", {"size": 8}, "size must be odd"),
    ("blur", {"kernel": "motion", "length": 30}, "length"),
    ("bicubic-down", {"scale": 5}, "scale must be 2, 3 or 4"),
    ("salt-pepper", {"amount": 1.5}, "amount"),
    ("poisson-gaussian", {"peak": 0}, "peak"),
])
def test_bad_parameters_are_one_line_errors(name, params, match):
    with pytest.raises(PixelsmithError, match=match) as e:
        make_degradation(name, **params)
    assert "\n" not in str(e.value)


def test_bad_input_is_an_error():
    with pytest.raises(PixelsmithError, match=r"\(N, C, H, W\)"):
        make_degradation("gaussian-noise")(torch.rand(3, 8, 8))
