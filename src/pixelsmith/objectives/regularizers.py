"""GAN regularisers: WGAN-GP's gradient penalty (Gulrajani et al. 2017), R1 (Mescheder
et al. 2018), the original WGAN's weight clipping (Arjovsky et al. 2017) and BigGAN's
orthogonal regularisation (Brock et al. 2019)."""

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


def orthogonal_penalty(net: nn.Module) -> torch.Tensor:
    """BigGAN's orthogonal regularisation: the sum over ``net``'s weights W (every parameter
    of 2 or more dims as a matrix, one row per output unit; embeddings excluded, as BigGAN
    excludes its shared class embedding) of ||W W^T * (1 - I)||_F^2, the squared
    off-diagonal of the filters' Gram matrix: filters pushed towards orthogonal, their
    norms left free."""
    skip = {id(p) for m in net.modules() if isinstance(m, nn.Embedding)
            for p in m.parameters(recurse=False)}
    total = torch.zeros((), device=next(net.parameters()).device)
    for p in net.parameters():
        if p.dim() < 2 or id(p) in skip:
            continue
        w = p.float().flatten(1)  # (out, in * kh * kw)
        gram = w @ w.T  # (out, out)
        total = total + (gram - torch.diag(torch.diagonal(gram))).pow(2).sum()
    return total
