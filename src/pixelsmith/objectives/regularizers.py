"""GAN regularisers: WGAN-GP's gradient penalty (Gulrajani et al. 2017), R1 (Mescheder
et al. 2018) and the original WGAN's weight clipping (Arjovsky et al. 2017)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """mean over the batch of (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = eps real + (1-eps) fake,
    eps ~ U(0, 1) per sample (drawn from the global RNG unless given, shape (B,))."""
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device)
    e = eps.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))  # (B, 1, 1, 1)
    x_hat = (e * real.detach() + (1 - e) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).float().sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """mean over the batch of ||grad_x D(x)||^2 on real images (``real`` requires grad)."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


@torch.no_grad()
def clip_weights(net: nn.Module, c: float) -> None:
    for p in net.parameters():
        p.clamp_(-c, c)
