"""Sinusoidal embedding of a continuous time (Vaswani et al. 2017, used for the noise level
by Ho et al. 2020): the denoiser is told where in the noising process its input is."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, *, scale: float = 1000.0,
                         max_period: float = 10000.0) -> torch.Tensor:
    """(B,) times -> (B, dim): [sin(s t f_i), cos(s t f_i)] with frequencies f_i spaced
    geometrically from 1 down to 1/max_period. ``scale`` maps t in [0, 1] to the range
    DDPM's integer steps had (0..1000), so the fast frequencies still tell steps apart."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device,
                                                           dtype=torch.float32) / half)
    angles = scale * t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, 2 * half)
    if dim % 2:
        emb = nn.functional.pad(emb, (0, 1))  # (B, dim)
    return emb


class TimeEmbedding(nn.Module):
    """Sinusoidal features of t followed by a two-layer MLP: (B,) -> (B, out_dim)."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))
