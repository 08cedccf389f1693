"""The arithmetic of FID / KID / IS / precision-recall and PSNR / SSIM, against independent
computations and closed forms."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from pixelsmith.metrics import math as M
from pixelsmith.metrics.paired import psnr, ssim


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy's matrix square root (as pytorch-fid does)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_scipy_sqrtm():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 16, generator=g, dtype=torch.float64)
    b = torch.randn(400, 16, generator=g, dtype=torch.float64) @ (
        torch.eye(16, dtype=torch.float64) + 0.3 * torch.randn(16, 16, generator=g,
                                                              dtype=torch.float64)) + 0.5
    ours = M.fid_from_features(a, b)
    ref = scipy_fid(a.numpy(), b.numpy())
    assert ours == pytest.approx(ref, abs=1e-4)
    assert ours > 1.0


def test_fid_of_a_set_with_itself_is_zero():
    x = torch.randn(300, 12, generator=torch.Generator().manual_seed(1))
    assert abs(M.fid_from_features(x, x)) < 1e-6


def test_frechet_distance_closed_form_for_two_gaussians():
    # N(m1, diag(v1)) vs N(m2, diag(v2)): |m1-m2|^2 + sum(v1 + v2 - 2 sqrt(v1 v2))
    m1, m2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    v1, v2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 1.0])
    expected = float(((m1 - m2) ** 2).sum() + (v1 + v2 - 2 * (v1 * v2).sqrt()).sum())
    got = M.frechet_distance(m1, torch.diag(v1), m2, torch.diag(v2))
    assert got == pytest.approx(expected, abs=1e-10)  # 5 + (4 + 1 + 0.25) = 10.25
    # and from samples of those Gaussians it approaches the closed form
    g = torch.Generator().manual_seed(2)
    a = m1 + v1.sqrt() * torch.randn(20000, 3, generator=g, dtype=torch.float64)
    b = m2 + v2.sqrt() * torch.randn(20000, 3, generator=g, dtype=torch.float64)
    assert M.fid_from_features(a, b) == pytest.approx(expected, rel=0.03)


def test_kid_near_zero_for_one_distribution_and_positive_otherwise():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    mean, std = M.kid_from_features(a, b, subset_size=200, num_subsets=20)
    assert abs(mean) < 0.02 and std > 0
    far, _ = M.kid_from_features(a, b + 1.0, subset_size=200, num_subsets=20)
    assert far > 0.2 and far > 10 * abs(mean)


def test_kid_single_subset_matches_hand_formula():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(30, 5, generator=g).double(), torch.randn(30, 5, generator=g).double()
    k = lambda a, b: (a @ b.T / 5 + 1) ** 3  # noqa: E731
    n = 30
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    hand = ((kxx.sum() - kxx.trace()) / (n * (n - 1)) + (kyy.sum() - kyy.trace()) / (n * (n - 1))
            - 2 * kxy.mean())
    mean, _ = M.kid_from_features(x, y, subset_size=30, num_subsets=3)
    assert mean == pytest.approx(float(hand), abs=1e-9)  # whole sets: every subset equal


def test_inception_score_of_a_confident_uniform_classifier_is_the_class_count():
    k = 10
    probs = torch.eye(k).repeat(50, 1)  # each image sure of one class, classes balanced
    mean, std = M.inception_score(probs, num_splits=10)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0, abs=1e-9)
    flat = torch.full((500, k), 1.0 / k)  # no confidence at all: IS = 1
    assert M.inception_score(flat)[0] == pytest.approx(1.0)


def test_precision_recall_sees_mode_dropping():
    g = torch.Generator().manual_seed(5)
    real = torch.randn(400, 2, generator=g)
    same = torch.randn(400, 2, generator=g)
    p, r = M.precision_recall(real, same, k=3)
    assert p > 0.85 and r > 0.85
    # generated samples only from a small part of the real set: precise, poor recall
    half = torch.randn(400, 2, generator=g) * 0.2 + torch.tensor([1.0, 0.0])
    p, r = M.precision_recall(real, half, k=3)
    assert p > 0.9 and r < 0.4
    # generated samples far away: neither
    p, r = M.precision_recall(real, same + 10, k=3)
    assert p == 0 and r == 0


def test_psnr_hand_values_and_mask():
    x = torch.zeros(1, 1, 4, 4)
    y = x.clone()
    y[..., 0, 0] = 1.0  # one pixel off by 0.5 on the [0, 1] scale: mse = 0.25 / 16
    assert float(psnr(y, x)) == pytest.approx(10 * math.log10(16 / 0.25))
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:, 2:] = 1  # the error lies outside the mask
    assert float(psnr(y, x, mask)) > 150
    mask[..., 0, 0] = 1  # now one of the 5 counted pixels is wrong
    assert float(psnr(y, x, mask)) == pytest.approx(10 * math.log10(5 / 0.25))


def test_ssim_identity_and_against_an_independent_gaussian_window():
    g = torch.Generator().manual_seed(6)
    x = torch.rand(2, 1, 24, 24, generator=g) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    y = (x + 0.2 * torch.randn(2, 1, 24, 24, generator=g)).clamp(-1, 1)
    # independent SSIM: Gaussian window 11 / sigma 1.5 over the image padded by reflection
    # (torchmetrics' convention; scikit-image crops the border instead)
    pad = lambda z: torch.nn.functional.pad((z.double() + 1) / 2, (5,) * 4, mode="reflect")  # noqa: E731
    a, b = pad(x), pad(y)
    t = torch.arange(11, dtype=torch.float64) - 5
    w1 = torch.exp(-(t**2) / (2 * 1.5**2))
    w = (w1[:, None] * w1[None, :] / w1.sum() ** 2)[None, None]
    conv = lambda z: torch.nn.functional.conv2d(z, w)  # noqa: E731
    mu_a, mu_b = conv(a), conv(b)
    var_a, var_b = conv(a * a) - mu_a**2, conv(b * b) - mu_b**2
    cov = conv(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    smap = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
            / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    ours = ssim(y, x)
    assert smap.shape[-1] == 24
    assert torch.allclose(ours, smap.flatten(1).mean(1), atol=1e-6)
    assert (ours < 0.99).all()
    # a mask selecting the whole image changes nothing; a partial one averages its part
    assert torch.allclose(ssim(y, x, torch.ones(2, 1, 24, 24)), ours)
    mask = torch.zeros(2, 1, 24, 24)
    mask[..., :8, :] = 1
    assert torch.allclose(ssim(y, x, mask), smap[..., :8, :].flatten(1).mean(1), atol=1e-6)
