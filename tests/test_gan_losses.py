import math

import torch

import pixelsmith.components  # noqa: F401  (fills the registries)
from pixelsmith.registry import GAN_LOSSES


def test_non_saturating_against_hand_values():
    loss = GAN_LOSSES.get("non-saturating")()
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])

    def log_sigmoid(t):
        return math.log(1 / (1 + math.exp(-t)))

    # D: -log D(x) - log(1 - D(G(z))), averaged; 1 - sigmoid(t) = sigmoid(-t)
    want_d = ((-log_sigmoid(2.0) - log_sigmoid(-1.0)) / 2
              + (-log_sigmoid(-0.5) - log_sigmoid(3.0)) / 2)
    want_g = (-log_sigmoid(0.5) - log_sigmoid(-3.0)) / 2
    assert math.isclose(loss.d_loss(real, fake).item(), want_d, rel_tol=1e-6)
    assert math.isclose(loss.g_loss(fake).item(), want_g, rel_tol=1e-6)


def test_non_saturating_matches_bce_with_logits():
    loss = GAN_LOSSES.get("non-saturating")()
    real, fake = torch.randn(50), torch.randn(50)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    d = bce(real, torch.ones(50)) + bce(fake, torch.zeros(50))
    assert torch.allclose(loss.d_loss(real, fake), d, atol=1e-6)
    assert torch.allclose(loss.g_loss(fake), bce(fake, torch.ones(50)), atol=1e-6)


def test_minimax_generator_loss_is_log_one_minus_d():
    fake = torch.tensor([0.3, -2.0])
    want = torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(GAN_LOSSES.get("minimax")().g_loss(fake), want, atol=1e-6)


REAL, FAKE = torch.tensor([2.0, -0.5, 0.25]), torch.tensor([0.5, -3.0, 1.5])


def test_hinge_against_hand_values():
    loss = GAN_LOSSES.get("hinge")()
    # D: mean(max(0, 1 - r)) + mean(max(0, 1 + f)) = (0 + 1.5 + 0.75)/3 + (1.5 + 0 + 2.5)/3
    assert math.isclose(loss.d_loss(REAL, FAKE).item(), 2.25 / 3 + 4.0 / 3, rel_tol=1e-6)
    assert math.isclose(loss.g_loss(FAKE).item(), -(0.5 - 3.0 + 1.5) / 3, rel_tol=1e-6)


def test_wasserstein_against_hand_values():
    loss = GAN_LOSSES.get("wasserstein")()
    # D: mean(f) - mean(r) = (-1/3) - (1.75/3)
    assert math.isclose(loss.d_loss(REAL, FAKE).item(), -1 / 3 - 1.75 / 3, rel_tol=1e-6)
    assert math.isclose(loss.g_loss(FAKE).item(), 1 / 3, rel_tol=1e-6)


def test_least_squares_against_hand_values():
    loss = GAN_LOSSES.get("least-squares")()
    # D: 1/2 mean((r-1)^2) + 1/2 mean(f^2) = 1/2 (1 + 2.25 + 0.5625)/3 + 1/2 (0.25 + 9 + 2.25)/3
    want_d = 0.5 * 3.8125 / 3 + 0.5 * 11.5 / 3
    # G: 1/2 mean((f-1)^2) = 1/2 (0.25 + 16 + 0.25)/3
    assert math.isclose(loss.d_loss(REAL, FAKE).item(), want_d, rel_tol=1e-6)
    assert math.isclose(loss.g_loss(FAKE).item(), 0.5 * 16.5 / 3, rel_tol=1e-6)
