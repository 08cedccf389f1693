"""The ResNet GAN of the SNGAN paper (Miyato et al. 2018, appendix B, CIFAR-10 32x32),
with the options later papers added: class conditioning in G (label embedding joined to
z, or conditional BatchNorm, de Vries 2017 / Miyato & Koyama 2018), in D (projection,
Miyato & Koyama 2018; label maps concatenated to the image, Mirza & Osindero 2014;
an auxiliary classifier, ACGAN, Odena et al. 2017) and a SAGAN self-attention block
(Zhang et al. 2019) at a chosen resolution.

Generator: linear z -> (C, s0, s0), residual up-blocks (BN, ReLU, upsample, 3x3 conv) up
to the image size, BN, ReLU, 3x3 conv, tanh. Discriminator: spectral-normalised residual
down-blocks down to 8x8 or less, one more block, ReLU, global sum pooling, linear.
Works for the sizes DCGAN supports (16, 28, 32, 64, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelsmith.config.schema import choice
from pixelsmith.errors import PixelsmithError
from pixelsmith.models.dcgan import start_size
from pixelsmith.nn.layers import ConditionalBatchNorm2d, SelfAttention, norm, sn
from pixelsmith.registry import MODELS


@dataclass
class ResNetGANConfig:
    default_objective: ClassVar[str] = "gan"
    name: str = "resnet"
    z_dim: int = 128  # size of the noise vector
    g_width: int = 256  # generator channels in every block (SNGAN CIFAR: 256)
    d_width: int = 128  # discriminator channels in every block (SNGAN CIFAR: 128)
    g_cond: str = choice("none", "none", "embed", "cbn",
                         help="generator labels: embedding joined to z, or conditional BN")
    d_cond: str = choice("none", "none", "projection", "concat", "acgan",
                         help="discriminator labels: projection, label maps, aux classifier")
    embed_dim: int = 128  # size of the label embedding joined to z (g_cond=embed)
    attention: int = 0  # resolution of a self-attention block in G and D (0 = none), e.g. 16
    spectral_norm: bool = True  # spectral norm on every D layer


def _cond_bn(channels: int, num_classes: int) -> nn.Module:
    return ConditionalBatchNorm2d(channels, num_classes) if num_classes else nn.BatchNorm2d(
        channels)


class GBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, num_classes: int):
        super().__init__()
        self.bn1, self.bn2 = _cond_bn(c_in, num_classes), _cond_bn(c_out, num_classes)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x, c=None):
        h = F.interpolate(F.relu(norm(self.bn1, x, c)), scale_factor=2)  # (B, C_in, 2H, 2W)
        h = self.conv2(F.relu(norm(self.bn2, self.conv1(h), c)))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """Pre-activation residual block; ``first`` skips the leading ReLU (raw image input)."""

    def __init__(self, c_in: int, c_out: int, *, down: bool, first: bool, use_sn: bool):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, padding=1), use_sn)
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, padding=1), use_sn)
        self.skip = sn(nn.Conv2d(c_in, c_out, 1), use_sn) if (c_in != c_out or down) else None

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.skip is not None:
            # the first block pools before its 1x1 conv, the others after (as in SNGAN)
            s = self.skip(F.avg_pool2d(s, 2)) if self.first and self.down else self.skip(s)
            s = F.avg_pool2d(s, 2) if self.down and not self.first else s
        return h + s


class Generator(nn.Module):
    def __init__(self, *, z_dim: int, img_size: int, img_channels: int, width: int,
                 num_classes: int = 0, cond: str = "none", embed_dim: int = 128,
                 attention: int = 0):
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes if cond != "none" else 0  # 0: ignores labels
        s0, k = start_size(img_size)
        self.s0, self.c0 = s0, width
        self.embed = nn.Embedding(num_classes, embed_dim) if cond == "embed" else None
        z_in = z_dim + (embed_dim if self.embed is not None else 0)
        self.project = nn.Linear(z_in, width * s0 * s0)
        bn_classes = num_classes if cond == "cbn" else 0
        self.blocks = nn.ModuleList(GBlock(width, width, bn_classes) for _ in range(k))
        sizes = [s0 * 2 ** (i + 1) for i in range(k)]
        self.attn_after = sizes.index(attention) if attention in sizes else -1
        self.attn = SelfAttention(width, use_sn=False) if self.attn_after >= 0 else None
        self.bn = nn.BatchNorm2d(width)
        self.to_img = nn.Conv2d(width, img_channels, 3, padding=1)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(c)], dim=1)  # (B, z_dim + embed_dim)
        h = self.project(z).view(z.shape[0], self.c0, self.s0, self.s0)  # (B, C, s0, s0)
        for i, block in enumerate(self.blocks):
            h = block(h, c if self.num_classes else None)
            if i == self.attn_after:
                h = self.attn(h)
        return torch.tanh(self.to_img(F.relu(self.bn(h))))  # (B, img_channels, H, W)


class Discriminator(nn.Module):
    def __init__(self, *, img_size: int, img_channels: int, width: int, num_classes: int = 0,
                 cond: str = "none", attention: int = 0, use_sn: bool = True):
        super().__init__()
        self.cond = cond
        self.num_classes = num_classes if cond in ("projection", "concat") else 0  # takes c
        self.aux_classes = num_classes if cond == "acgan" else 0  # returns class logits
        c_in = img_channels + (num_classes if cond == "concat" else 0)
        blocks, sizes, size = [], [], img_size
        while size > 8 and size % 2 == 0:  # down-blocks to 8x8 (or 7x7 for 28 px)
            blocks.append(DBlock(c_in if not blocks else width, width, down=True,
                                 first=not blocks, use_sn=use_sn))
            size //= 2
            sizes.append(size)
        blocks.append(DBlock(c_in if not blocks else width, width, down=False,
                             first=not blocks, use_sn=use_sn))
        sizes.append(size)
        self.blocks = nn.ModuleList(blocks)
        self.attn_after = sizes.index(attention) if attention in sizes else -1
        self.attn = SelfAttention(width, use_sn=use_sn) if self.attn_after >= 0 else None
        self.head = sn(nn.Linear(width, 1), use_sn)
        self.embed = sn(nn.Embedding(num_classes, width), use_sn) if cond == "projection" else None
        self.aux = sn(nn.Linear(width, num_classes), use_sn) if self.aux_classes else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None):
        """(B,) logits; with an auxiliary classifier ((B,) logits, (B, classes) logits)."""
        if self.cond == "concat":
            maps = F.one_hot(c, self.num_classes).to(x.dtype)[:, :, None, None]  # (B, K, 1, 1)
            x = torch.cat([x, maps.expand(-1, -1, *x.shape[2:])], dim=1)  # (B, C + K, H, W)
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == self.attn_after:
                h = self.attn(h)
        h = F.relu(h).sum(dim=(2, 3))  # (B, width): global sum pooling
        logits = self.head(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.embed(c) * h).sum(dim=1)  # projection term <y, phi(x)>
        if self.aux is not None:
            return logits, self.aux(h)
        return logits


@MODELS.register("resnet", config=ResNetGANConfig,
                 help="SNGAN ResNet G + spectral-norm D; conditional and self-attention options")
def build_resnet(cfg: ResNetGANConfig, *, img_size: int, img_channels: int,
                 num_classes: int = 0):
    if (cfg.g_cond != "none" or cfg.d_cond != "none") and num_classes < 2:
        key = "model.g_cond" if cfg.g_cond != "none" else "model.d_cond"
        raise PixelsmithError(f"{key} needs a labelled data set, but this one has no classes")
    g = Generator(z_dim=cfg.z_dim, img_size=img_size, img_channels=img_channels,
                  width=cfg.g_width, num_classes=num_classes, cond=cfg.g_cond,
                  embed_dim=cfg.embed_dim, attention=cfg.attention)
    d = Discriminator(img_size=img_size, img_channels=img_channels, width=cfg.d_width,
                      num_classes=num_classes, cond=cfg.d_cond, attention=cfg.attention,
                      use_sn=cfg.spectral_norm)
    return {"generator": g, "discriminator": d}
