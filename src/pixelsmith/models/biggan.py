"""BigGAN (Brock et al. 2019) at the scale of its CIFAR-10 and 64/128 px settings.

Generator: the latent z is split into one chunk for the first layer and one per residual
up-block (the hierarchical latent); each block's conditional BatchNorms take
[shared class embedding, its z chunk] through linear layers (gain 1 + linear, bias linear),
so the class and the noise reach every resolution. Spectral norm on every generator layer,
orthogonal initialisation, a self-attention block at one resolution, BN-ReLU-conv-tanh out.
Unlabelled data: the blocks take their z chunk alone.
Discriminator: the SNGAN ResNet discriminator of models/resnet.py (spectral norm, global
sum pooling) with the projection head and the same self-attention, reused as is; unlike
BigGAN's 128 px D its width does not grow per block. Train with the hinge loss and
``objective.ortho_weight`` (see configs/gan/biggan-*.yaml); sample with ``--truncation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.models.dcgan import start_size
from pixelsmith.models.resnet import Discriminator
from pixelsmith.nn.layers import SelfAttention, VectorConditionalBatchNorm2d, sn
from pixelsmith.registry import MODELS


@dataclass
class BigGANConfig:
    default_objective: ClassVar[str] = "gan"
    name: str = "biggan"
    z_dim: int = 128  # split into (up-blocks + 1) chunks, as evenly as it divides
    g_width: int = 256  # generator channels at the image size (doubling per lower level)
    d_width: int = 128  # discriminator channels in every block
    max_width: int = 256  # cap on the generator's channels at low resolutions
    embed_dim: int = 128  # the shared class embedding (labelled data only)
    attention: int = 16  # resolution of the self-attention block in G and D (0 = none)


def z_chunks(z_dim: int, num: int) -> list[int]:
    """Sizes of ``num`` chunks of z, as even as possible (the first ones one larger)."""
    if z_dim < num:
        raise PixelsmithError(f"model.z_dim must be at least {num} for this image size (one "
                              f"chunk for the first layer and one per block), got {z_dim}")
    return [z_dim // num + (1 if i < z_dim % num else 0) for i in range(num)]


class GBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, cond_dim: int):
        super().__init__()
        self.bn1 = VectorConditionalBatchNorm2d(c_in, cond_dim)
        self.bn2 = VectorConditionalBatchNorm2d(c_out, cond_dim)
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = sn(nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2)  # (B, C_in, 2H, 2W)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.skip(F.interpolate(x, scale_factor=2))  # (B, C_out, 2H, 2W)


class Generator(nn.Module):
    def __init__(self, *, z_dim: int, img_size: int, img_channels: int, width: int,
                 max_width: int, num_classes: int = 0, embed_dim: int = 128,
                 attention: int = 0):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        s0, k = start_size(img_size)
        self.chunks = z_chunks(z_dim, k + 1)
        widths = [min(width * 2 ** (k - i), max_width) for i in range(k + 1)]  # s0 -> img
        self.s0, self.c0 = s0, widths[0]
        self.shared = nn.Embedding(num_classes, embed_dim) if num_classes else None
        extra = embed_dim if num_classes else 0
        self.project = sn(nn.Linear(self.chunks[0], widths[0] * s0 * s0))
        self.blocks = nn.ModuleList(GBlock(widths[i], widths[i + 1], self.chunks[i + 1] + extra)
                                    for i in range(k))
        sizes = [s0 * 2 ** (i + 1) for i in range(k)]
        self.attn_after = sizes.index(attention) if attention in sizes else -1
        self.attn = SelfAttention(widths[self.attn_after + 1]) if self.attn_after >= 0 else None
        self.bn = nn.BatchNorm2d(widths[-1])
        self.to_img = sn(nn.Conv2d(widths[-1], img_channels, 3, padding=1))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        zs = torch.split(z, self.chunks, dim=1)  # the hierarchical latent
        h = self.project(zs[0]).view(z.shape[0], self.c0, self.s0, self.s0)  # (B, C0, s0, s0)
        shared = self.shared(c) if self.shared is not None else None  # (B, embed_dim)
        for i, block in enumerate(self.blocks):
            y = zs[i + 1] if shared is None else torch.cat([shared, zs[i + 1]], dim=1)
            h = block(h, y)
            if i == self.attn_after:
                h = self.attn(h)
        return torch.tanh(self.to_img(F.relu(self.bn(h))))  # (B, img_channels, H, W)


@torch.no_grad()
def orthogonal_init(net: nn.Module) -> None:
    """BigGAN's default initialisation: orthogonal conv, linear and embedding weights (the
    spectral-normalised layers' raw weights), zero biases."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            params = getattr(m, "parametrizations", None)
            nn.init.orthogonal_(params.weight.original if params is not None else m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


@MODELS.register("biggan", config=BigGANConfig,
                 help="BigGAN: shared embedding + hierarchical z into conditional BN, "
                      "self-attention, projection D")
def build_biggan(cfg: BigGANConfig, *, img_size: int, img_channels: int, num_classes: int = 0):
    classes = num_classes if num_classes >= 2 else 0
    g = Generator(z_dim=cfg.z_dim, img_size=img_size, img_channels=img_channels,
                  width=cfg.g_width, max_width=cfg.max_width, num_classes=classes,
                  embed_dim=cfg.embed_dim, attention=cfg.attention)
    d = Discriminator(img_size=img_size, img_channels=img_channels, width=cfg.d_width,
                      num_classes=classes, cond="projection" if classes else "none",
                      attention=cfg.attention, use_sn=True)
    orthogonal_init(g)
    orthogonal_init(d)
    return {"generator": g, "discriminator": d}
