"""Progressive growing of GANs (Karras et al. 2018): a generator and a discriminator that
grow from s0 x s0 (4x4 for 32/64/128 px) to the image size, one doubling per level.

Every level is built up front; the networks are told which ``level`` (0 = s0, the last =
the image size) and how far its fade-in has gone (``alpha`` in [0, 1]). The parameters of
the levels not yet in use simply get no gradient, so one state dict, one optimizer state
and one EMA serve the whole run and a checkpoint taken mid-growth resumes exactly. The
schedule (which level and alpha at which step) is the objective's (objectives/progan.py).

Fade-in: while level l fades in, the generator's output is
lerp(upsample(to_img[l-1](h_{l-1})), to_img[l](block_l(h_{l-1})), alpha), so at alpha = 0
it is exactly the previous level's image, upsampled; the discriminator mirrors it with
average pooling. Layers: equalized learning rate, pixel norm after every generator conv,
minibatch standard deviation before the discriminator's last block (nn/progressive.py).
The generator's output is linear, as in the paper; samplers clamp it to [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.models.dcgan import start_size
from pixelsmith.nn.progressive import (
    HE_GAIN,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
)
from pixelsmith.registry import MODELS


@dataclass
class ProGANConfig:
    default_objective: ClassVar[str] = "progan"
    name: str = "progan"
    z_dim: int = 256  # size of the latent (pixel-normalised on entry)
    g_width: int = 64  # generator channels at the image size (doubling per lower level)
    d_width: int = 64  # discriminator channels at the image size (doubling per lower level)
    max_width: int = 256  # cap on channels at low resolutions (the paper: 512)
    mbstd_group: int = 4  # minibatch standard deviation group size


def _widths(width: int, levels: int, max_width: int) -> list[int]:
    """Channels per level, lowest resolution first: width at the top level, doubling down."""
    return [min(width * 2 ** (levels - 1 - i), max_width) for i in range(levels)]


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def check_level(level: int | None, alpha: float, levels: int) -> int:
    """``level`` (None = the last) checked against the networks' levels."""
    level = levels - 1 if level is None else level
    if not 0 <= level < levels:
        raise PixelsmithError(f"level {level} is outside this network's 0..{levels - 1}")
    if not 0.0 <= alpha <= 1.0:
        raise PixelsmithError(f"fade-in alpha must be in [0, 1], got {alpha}")
    return level


class GBlock(nn.Module):
    """Upsample x2 (nearest), then twice conv3x3, LeakyReLU(0.2), pixel norm."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(c_in, c_out, 3)
        self.conv2 = EqualizedConv2d(c_out, c_out, 3)
        self.norm = PixelNorm()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(h, scale_factor=2, mode="nearest")  # (B, C_in, 2H, 2W)
        h = self.norm(_lrelu(self.conv1(h)))
        return self.norm(_lrelu(self.conv2(h)))


class Generator(nn.Module):
    def __init__(self, *, z_dim: int, img_size: int, img_channels: int, width: int,
                 max_width: int):
        super().__init__()
        self.z_dim = z_dim
        s0, k = start_size(img_size)
        self.s0, self.num_levels = s0, k + 1
        widths = _widths(width, self.num_levels, max_width)
        self.c0 = widths[0]
        self.norm = PixelNorm()
        # the paper's first layer: a dense layer to s0 x s0 (gain sqrt(2)/4), then a conv
        self.project = EqualizedLinear(z_dim, widths[0] * s0 * s0, gain=HE_GAIN / 4)
        self.conv0 = EqualizedConv2d(widths[0], widths[0], 3)
        self.blocks = nn.ModuleList(GBlock(a, b) for a, b in zip(widths[:-1], widths[1:]))
        # one 1x1 "toRGB" per level; linear output (gain 1)
        self.to_img = nn.ModuleList(EqualizedConv2d(w, img_channels, 1, gain=1.0)
                                    for w in widths)

    def forward(self, z: torch.Tensor, level: int | None = None,
                alpha: float = 1.0) -> torch.Tensor:
        """Images at level ``level`` (None = the last, the image size): (B, C, s0 2^l, s0 2^l)."""
        level = check_level(level, alpha, self.num_levels)
        h = self.project(self.norm(z)).view(z.shape[0], self.c0, self.s0, self.s0)
        h = self.norm(_lrelu(self.conv0(self.norm(_lrelu(h)))))  # (B, C0, s0, s0)
        for block in self.blocks[: level - 1] if level > 0 else ():
            h = block(h)
        if level == 0:
            return self.to_img[0](h)
        if alpha >= 1.0:  # the level is in: the previous toRGB is not needed
            return self.to_img[level](self.blocks[level - 1](h))
        old = F.interpolate(self.to_img[level - 1](h), scale_factor=2, mode="nearest")
        if alpha <= 0.0:  # exactly the previous level's image, upsampled
            return old
        new = self.to_img[level](self.blocks[level - 1](h))
        return torch.lerp(old, new, alpha)  # (B, C, s0 2^l, s0 2^l)


class DBlock(nn.Module):
    """Twice conv3x3 + LeakyReLU(0.2), then average pooling x2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(c_in, c_in, 3)
        self.conv2 = EqualizedConv2d(c_in, c_out, 3)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = _lrelu(self.conv2(_lrelu(self.conv1(h))))
        return F.avg_pool2d(h, 2)  # (B, C_out, H/2, W/2)


class Discriminator(nn.Module):
    def __init__(self, *, img_size: int, img_channels: int, width: int, max_width: int,
                 mbstd_group: int = 4):
        super().__init__()
        s0, k = start_size(img_size)
        self.s0, self.num_levels = s0, k + 1
        widths = _widths(width, self.num_levels, max_width)
        # one 1x1 "fromRGB" per level
        self.from_img = nn.ModuleList(EqualizedConv2d(img_channels, w, 1) for w in widths)
        # blocks[l - 1] takes level l's resolution down to level l - 1's
        self.blocks = nn.ModuleList(DBlock(b, a) for a, b in zip(widths[:-1], widths[1:]))
        self.mbstd = MinibatchStdDev(mbstd_group)
        self.conv = EqualizedConv2d(widths[0] + 1, widths[0], 3)
        self.dense = EqualizedLinear(widths[0] * s0 * s0, widths[0])
        self.head = EqualizedLinear(widths[0], 1, gain=1.0)

    def forward(self, x: torch.Tensor, level: int | None = None,
                alpha: float = 1.0) -> torch.Tensor:
        """(B,) critic scores of images ``x`` at level ``level``'s resolution."""
        level = check_level(level, alpha, self.num_levels)
        side = self.s0 * 2**level
        if x.shape[-1] != side or x.shape[-2] != side:
            raise PixelsmithError(f"level {level} takes {side}x{side} images, got "
                                  f"{tuple(x.shape[-2:])}")
        if level == 0:
            h = _lrelu(self.from_img[0](x))
        elif alpha >= 1.0:
            h = self.blocks[level - 1](_lrelu(self.from_img[level](x)))
        else:  # fading in: blend with the previous level's path (alpha 0: only that path)
            h = _lrelu(self.from_img[level - 1](F.avg_pool2d(x, 2)))
            if alpha > 0.0:
                h = torch.lerp(h, self.blocks[level - 1](_lrelu(self.from_img[level](x))), alpha)
        for block in reversed(self.blocks[: max(level - 1, 0)]):
            h = block(h)  # down to (B, C0, s0, s0)
        h = _lrelu(self.conv(self.mbstd(h)))
        h = _lrelu(self.dense(h.flatten(1)))  # (B, C0)
        return self.head(h).squeeze(1)


@MODELS.register("progan", config=ProGANConfig,
                 help="progressive growing GAN: equalized lr, pixel norm, minibatch stddev")
def build_progan(cfg: ProGANConfig, *, img_size: int, img_channels: int, num_classes: int = 0):
    g = Generator(z_dim=cfg.z_dim, img_size=img_size, img_channels=img_channels,
                  width=cfg.g_width, max_width=cfg.max_width)
    d = Discriminator(img_size=img_size, img_channels=img_channels, width=cfg.d_width,
                      max_width=cfg.max_width, mbstd_group=cfg.mbstd_group)
    return {"generator": g, "discriminator": d}
