"""U-Net denoiser for diffusion and flow matching (Ho et al. 2020; Nichol & Dhariwal 2021).

``net(x_t, t, c) -> prediction`` with the shape of ``x_t``: the objective decides what the
prediction means (the noise ε, DDPM's v, or a flow's velocity) and what t is (a time in
[0, 1]). The network only sees a noisy image, a time and optionally a class.

Layout for ``levels`` resolutions (img_size must be divisible by 2**(levels - 1): 28, 32
and 64 px work with 3 levels): a 3x3 head conv to ``width`` channels; per level ``blocks``
residual blocks (GroupNorm-SiLU-conv twice, the time embedding added in between, dropout
before the second conv) then a stride-2 conv; a middle of res-attention-res; the decoder
mirrors the encoder with ``blocks + 1`` residual blocks per level, each reading one of the
encoder's outputs by concatenation, and nearest-neighbour upsampling + conv; GroupNorm-SiLU
and a 3x3 tail conv back to the image channels. Self-attention (multi-head, on GroupNorm'd
features) follows each residual block at the ``attention_levels`` lowest resolutions, where
the maps are small enough for every position to see every other.

Conditional models (``model.conditional``) embed the class label into the time embedding;
the embedding table has one extra row, the null class ``num_classes``, which training
shows with probability ``objective.cond_drop`` so that one network gives both the
conditional and the unconditional prediction (classifier-free guidance, Ho & Salimans 2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.nn.time_embedding import TimeEmbedding
from pixelsmith.registry import MODELS


@dataclass
class UNetDenoiserConfig:
    default_objective: ClassVar[str] = "diffusion"
    name: str = "unet-denoiser"
    width: int = 64  # channels at full resolution; doubles at every halving
    max_width: int = 256  # cap on channels at low resolutions
    levels: int = 3  # resolutions (levels - 1 halvings)
    blocks: int = 2  # residual blocks per level in the encoder (decoder: blocks + 1)
    attention_levels: int = 1  # self-attention at this many of the lowest resolutions
    dropout: float = 0.1  # in every residual block (Ho et al. use 0.1 on CIFAR-10)
    conditional: bool = False  # embed the class label (with a null class for guidance)


def group_norm(channels: int) -> nn.GroupNorm:
    # 32 groups as in DDPM where the width allows; narrow test nets get fewer
    return nn.GroupNorm(math.gcd(32, channels), channels)


class TimeResBlock(nn.Module):
    """GroupNorm-SiLU-conv, + time embedding, GroupNorm-SiLU-dropout-conv, + skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = group_norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = group_norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, c_out, H, W)
        h = h + self.emb(F.silu(emb))[:, :, None, None]  # time (and class), per channel
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over all positions of a GroupNorm'd map, plus the input."""

    def __init__(self, channels: int, head_dim: int = 32):
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).view(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # (B, heads, HW, C/heads) each
        o = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C/heads)
        return x + self.out(o.transpose(-1, -2).reshape(b, c, h, w))


class Step(nn.Module):
    """One residual block, optionally followed by attention (a unit of the U-Net)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float, attention: bool):
        super().__init__()
        self.res = TimeResBlock(c_in, c_out, emb_dim, dropout)
        self.attn = Attention(c_out) if attention else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.res(x, emb)
        return h if self.attn is None else self.attn(h)


class UNetDenoiser(nn.Module):
    def __init__(self, *, img_size: int, img_channels: int, width: int = 64,
                 max_width: int = 256, levels: int = 3, blocks: int = 2,
                 attention_levels: int = 1, dropout: float = 0.1, num_classes: int = 0):
        super().__init__()
        if levels < 1 or img_size % 2 ** (levels - 1):
            raise PixelsmithError(
                f"model.levels {levels}: data.img_size {img_size} must be divisible by "
                f"2**(levels - 1) = {2 ** max(levels - 1, 0)} (28, 32 and 64 px work with 3)")
        if attention_levels < 0:
            raise PixelsmithError(f"model.attention_levels must be >= 0, got {attention_levels}")
        self.num_classes = num_classes  # labels 0..K-1; K is the null class
        self.img_channels = img_channels
        emb_dim = 4 * width
        self.time = TimeEmbedding(width, emb_dim)
        self.label = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        widths = [min(width * 2**i, max_width) for i in range(levels)]  # high res -> low res
        attend = [i >= levels - attention_levels for i in range(levels)]

        self.head = nn.Conv2d(img_channels, widths[0], 3, padding=1)
        self.down, skips, c = nn.ModuleList(), [widths[0]], widths[0]
        for i, w in enumerate(widths):
            for _ in range(blocks):
                self.down.append(Step(c, w, emb_dim, dropout, attend[i]))
                c = w
                skips.append(c)
            if i < levels - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # half the size
                skips.append(c)
        self.mid = nn.ModuleList([Step(c, c, emb_dim, dropout, True),
                                  Step(c, c, emb_dim, dropout, False)])
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(Step(c + skips.pop(), w, emb_dim, dropout, attend[i]))
                c = w
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(c, c, 3, padding=1)))
        self.tail = nn.Sequential(group_norm(c), nn.SiLU(),
                                  nn.Conv2d(c, img_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor,
                c: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, H, W) noisy images; t: (B,) times in [0, 1]; c: (B,) labels, the null
        class ``num_classes`` for the unconditional prediction (conditional models only)."""
        emb = self.time(t)  # (B, 4 * width)
        if self.label is not None:
            if c is None:
                raise PixelsmithError("this denoiser is conditional: pass class labels "
                                      f"(or the null class {self.num_classes})")
            emb = emb + self.label(c)
        h = self.head(x)  # (B, width, H, W)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, Step) else layer(h)
            hs.append(h)
        for layer in self.mid:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, Step):
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)  # (B, c + skip, h, w)
            else:
                h = layer(h)  # twice the size
        return self.tail(h)  # (B, C, H, W)


@MODELS.register("unet-denoiser", config=UNetDenoiserConfig,
                 help="U-Net denoiser (time embedding, attention, optional classes) for "
                      "diffusion and flow matching")
def build_unet_denoiser(cfg: UNetDenoiserConfig, *, img_size: int, img_channels: int,
                        num_classes: int = 0):
    if cfg.conditional and num_classes == 0:
        raise PixelsmithError(
            f"model '{cfg.name}' is conditional but the data set has no labels "
            "(for image-folder set data.labels=true)")
    net = UNetDenoiser(img_size=img_size, img_channels=img_channels, width=cfg.width,
                       max_width=cfg.max_width, levels=cfg.levels, blocks=cfg.blocks,
                       attention_levels=cfg.attention_levels, dropout=cfg.dropout,
                       num_classes=num_classes if cfg.conditional else 0)
    return {"denoiser": net}
