"""GAN losses: each maps discriminator logits to the D and G losses (means over the batch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixelsmith.registry import GAN_LOSSES


class GanLoss:
    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@GAN_LOSSES.register("non-saturating",
                     help="BCE with logits; G maximises log D(G(z)) (Goodfellow 2014)")
class NonSaturating(GanLoss):
    # softplus(-t) = -log sigmoid(t): the stable form of BCE with logits
    def d_loss(self, real, fake):
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake):
        return F.softplus(-fake).mean()


@GAN_LOSSES.register("minimax", help="the original saturating game: G minimises log(1 - D(G(z)))")
class Minimax(NonSaturating):
    def g_loss(self, fake):
        return -F.softplus(fake).mean()


@GAN_LOSSES.register("hinge", help="hinge loss for D, -D(G(z)) for G (Lim & Ye 2017; SNGAN)")
class Hinge(GanLoss):
    def d_loss(self, real, fake):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def g_loss(self, fake):
        return -fake.mean()


@GAN_LOSSES.register("wasserstein",
                     help="critic score difference (Arjovsky 2017); use with clip or GP")
class Wasserstein(GanLoss):
    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake):
        return -fake.mean()


@GAN_LOSSES.register("least-squares",
                     help="LSGAN: squared distance to targets 1 (real) and 0 (fake) (Mao 2017)")
class LeastSquares(GanLoss):
    # the 0-1 coding of the paper, with the 1/2 factors
    def d_loss(self, real, fake):
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()

    def g_loss(self, fake):
        return 0.5 * ((fake - 1) ** 2).mean()
