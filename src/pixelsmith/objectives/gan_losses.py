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
