"""Convolutional VAE (Kingma & Welling 2014) and its conditional variant (Sohn et al. 2015).

Encoder: a 3x3 stem, then strided 4x4 convolutions halve the resolution down to a start
size s0 in 3..7 (16, 28, 32, 64 px all work), then a linear head gives the mean and log
variance of a diagonal Gaussian posterior q(z|x). Decoder: the mirror image with transposed
convolutions; its last layer gives two maps per image channel, ``loc`` and ``log_scale``,
and the objective's likelihood reads the ones it needs (Bernoulli logits = ``loc``; a
Gaussian or discretised logistic uses both). No BatchNorm: a VAE's likelihood must not
depend on the other images in a batch.

The conditional model embeds the class label and feeds it to both the encoder head and the
decoder input, so q(z|x, c) and p(x|z, c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.models.dcgan import start_size
from pixelsmith.registry import MODELS


@dataclass
class VAEConfig:
    default_objective: ClassVar[str] = "vae"
    name: str = "vae"
    z_dim: int = 32  # size of the latent vector
    width: int = 32  # channels at full resolution; doubles at every halving
    max_width: int = 256  # cap on channels at low resolutions
    conditional: bool = False  # feed the class label to encoder and decoder
    label_dim: int = 16  # size of the label embedding (conditional only)


@dataclass
class CVAEConfig(VAEConfig):
    name: str = "cvae"
    conditional: bool = True


def _levels(img_size: int) -> tuple[int, int]:
    try:
        return start_size(img_size)
    except PixelsmithError:
        raise PixelsmithError(
            f"data.img_size {img_size} is not supported by the VAE; use s*2^k with s in 3..7 "
            "(e.g. 16, 28, 32, 64)") from None


class Encoder(nn.Module):
    def __init__(self, *, img_size: int, img_channels: int, z_dim: int, width: int,
                 max_width: int, label_dim: int = 0):
        super().__init__()
        s0, k = _levels(img_size)
        layers, c = [nn.Conv2d(img_channels, width, 3, padding=1), nn.SiLU()], width
        for i in range(k):
            c_out = min(width * 2 ** (i + 1), max_width)
            layers += [nn.Conv2d(c, c_out, 4, stride=2, padding=1), nn.SiLU()]
            c = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * s0 * s0 + label_dim, 2 * z_dim)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x).flatten(1)  # (B, C, s0, s0) -> (B, C*s0*s0)
        if emb is not None:
            h = torch.cat([h, emb], dim=1)  # (B, C*s0*s0 + label_dim)
        mu, logvar = self.head(h).chunk(2, dim=1)  # (B, z_dim) each
        return mu, logvar


class Decoder(nn.Module):
    def __init__(self, *, img_size: int, img_channels: int, z_dim: int, width: int,
                 max_width: int, label_dim: int = 0):
        super().__init__()
        s0, k = _levels(img_size)
        widths = [min(width * 2**i, max_width) for i in range(k, -1, -1)]  # low res -> high
        self.s0, self.c0 = s0, widths[0]
        self.project = nn.Linear(z_dim + label_dim, widths[0] * s0 * s0)
        ups = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            ups += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(widths[-1], 2 * img_channels, 3, padding=1)

    def forward(self, z: torch.Tensor, emb: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if emb is not None:
            z = torch.cat([z, emb], dim=1)  # (B, z_dim + label_dim)
        h = self.project(z).view(z.shape[0], self.c0, self.s0, self.s0)  # (B, C0, s0, s0)
        h = self.ups(torch.nn.functional.silu(h))  # (B, width, H, W)
        loc, log_scale = self.out(h).chunk(2, dim=1)  # (B, img_channels, H, W) each
        return loc, log_scale


class VAE(nn.Module):
    """``encode(x, c) -> (mu, logvar)``; ``decode(z, c) -> (loc, log_scale)``."""

    def __init__(self, *, img_size: int, img_channels: int, z_dim: int, width: int,
                 max_width: int, num_classes: int = 0, label_dim: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.conditional = num_classes > 0
        emb_dim = label_dim if self.conditional else 0
        self.embed = nn.Embedding(num_classes, label_dim) if self.conditional else None
        kw = dict(img_size=img_size, img_channels=img_channels, z_dim=z_dim, width=width,
                  max_width=max_width, label_dim=emb_dim)
        self.encoder = Encoder(**kw)
        self.decoder = Decoder(**kw)

    def _emb(self, c: torch.Tensor | None) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if c is None:
            raise PixelsmithError("this conditional VAE needs class labels")
        return self.embed(c)  # (B, label_dim)

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None):
        return self.encoder(x, self._emb(c))

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None):
        return self.decoder(z, self._emb(c))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None):
        """Posterior mean reconstruction parameters (no sampling): decode(mu(x))."""
        mu, _ = self.encode(x, c)
        return self.decode(mu, c)


def _build(cfg: VAEConfig, *, img_size: int, img_channels: int, num_classes: int = 0):
    if cfg.conditional and num_classes == 0:
        raise PixelsmithError(
            f"model '{cfg.name}' is conditional but the data set has no labels "
            "(for image-folder set data.labels=true)")
    vae = VAE(img_size=img_size, img_channels=img_channels, z_dim=cfg.z_dim, width=cfg.width,
              max_width=cfg.max_width, num_classes=num_classes if cfg.conditional else 0,
              label_dim=cfg.label_dim)
    return {"vae": vae}


MODELS.register("vae", config=VAEConfig,
                help="convolutional VAE, Gaussian latent (conditional with model.conditional)"
                )(_build)
MODELS.register("cvae", config=CVAEConfig,
                help="conditional VAE: the class label feeds encoder and decoder")(_build)
