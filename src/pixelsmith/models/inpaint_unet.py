"""Inpainting U-Net with gated convolutions (Yu et al. 2019, "Free-Form Image Inpainting
with Gated Convolution") and its spectral-norm PatchGAN discriminator.

Generator input: cat(masked image, mask) with 1 = known pixel; the missing pixels are set
to 0 (mid-gray in [-1, 1]). Every convolution is gated: ``act(f) * sigmoid(g)``, a learned
soft mask per channel and position, so the network learns to ignore the hole's fill
value instead of treating it as content. Encoder: stride-2 gated convs; bottleneck:
dilated gated convs (wide context at little cost); decoder: nearest upsampling + skip
concatenation. Fully convolutional: the input is zero-padded (mask 0 there, i.e.
"missing") to a multiple of 2**levels and the output cropped back, so any H, W works.

``generator.inpaint(y, mask)`` pastes the known pixels back: they are returned exactly.

``prefill``: the hole is first filled smoothly from its surroundings (``smooth_fill``, a
masked pyramid: known pixels averaged down level by level until every pixel has a value,
then carried back up), the network sees that instead of zeros and predicts a correction
to it (the last conv starts at zero). Training then starts from a fill about as good as
the classical ones and spends its steps on what they miss, which a short CPU run needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.models.patch_discriminator import PatchDiscriminator
from pixelsmith.nn.layers import pad_to_multiple
from pixelsmith.registry import MODELS


@dataclass
class InpaintUNetConfig:
    default_objective: ClassVar[str] = "inpainting"
    name: str = "inpaint-unet"
    g_width: int = 32  # generator channels at full resolution (doubles per level)
    d_width: int = 64  # discriminator channels of its first layer (doubles per level)
    max_width: int = 256  # cap on channels at low resolutions (both networks)
    levels: int = 3  # generator downsamplings; inputs are padded to a multiple of 2**levels
    dilated: int = 2  # dilated gated convs at the bottleneck, dilation 2, 4, 8, ...
    d_levels: int = 3  # discriminator downsamplings: patches see about 2**(levels+2) px
    prefill: bool = False  # predict a correction to a smooth fill of the hole (see above)


# Pyramid levels a traced graph (ONNX) always runs: enough for sides up to 2**16 pixels.
# A level past the 1 x 1 one changes nothing, so the fixed depth gives the eager result.
EXPORT_DEPTH = 16


def smooth_fill(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) with every missing pixel (mask 0) replaced by a smooth interpolation of
    the known ones: known pixels averaged 2x2 level by level until each pixel of a level
    has a known one under it (at worst, at 1 x 1, the mean of all known pixels), then
    upsampled bilinearly back into the holes, coarsest first. Known pixels are returned
    unchanged.

    Eager code stops going down as soon as a level has no hole; under export (torch.export,
    ONNX) the graph cannot test that, so it always runs ``EXPORT_DEPTH`` levels."""
    exporting = torch.compiler.is_compiling()
    if not exporting and bool((mask > 0).all()):  # nothing missing
        return y
    levels = [(y, mask)]
    for _ in range(EXPORT_DEPTH):
        if not exporting and (bool((mask > 0).all()) or max(y.shape[-2:]) == 1):
            break
        # ceil_mode keeps odd edges; the pool's divisor cancels in num / den
        num = F.avg_pool2d(y * mask, 2, ceil_mode=True)  # (B, C, ceil(H/2), ceil(W/2))
        den = F.avg_pool2d(mask, 2, ceil_mode=True)
        y, mask = num / den.clamp_min(1e-8), (den > 0).to(y.dtype)
        levels.append((y, mask))
    # the coarsest level's holes (none but where nothing at all is known): the known mean
    mean = (y * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True).clamp_min(1e-8)
    out = torch.where(mask > 0, y, mean.expand_as(y))
    for fine, fine_mask in reversed(levels[:-1]):
        up = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
        out = torch.where(fine_mask > 0, fine, up[..., : fine.shape[-2], : fine.shape[-1]])
    return out


class GatedConv(nn.Module):
    """conv -> (features, gate); out = LeakyReLU(features) * sigmoid(gate)."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, 2 * c_out, k, stride=stride,
                              padding=dilation * (k - 1) // 2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, g = self.conv(x).chunk(2, dim=1)  # (B, C_out, H', W') each
        return F.leaky_relu(f, 0.2) * torch.sigmoid(g)


class GatedUNet(nn.Module):
    def __init__(self, *, img_channels: int, width: int = 32, levels: int = 3, dilated: int = 2,
                 max_width: int = 256, prefill: bool = False):
        super().__init__()
        if levels < 1:
            raise PixelsmithError(f"model.levels must be >= 1, got {levels}")
        self.img_channels, self.levels = img_channels, levels
        widths = [min(width * 2**i, max_width) for i in range(levels + 1)]
        self.stem = GatedConv(img_channels + 1, widths[0], 5)
        self.downs = nn.ModuleList(
            nn.Sequential(GatedConv(widths[i], widths[i + 1], 3, stride=2),
                          GatedConv(widths[i + 1], widths[i + 1], 3))
            for i in range(levels))
        c = widths[-1]
        self.middle = nn.Sequential(*(GatedConv(c, c, 3, dilation=2 ** (i + 1))
                                      for i in range(dilated)))
        self.ups = nn.ModuleList(
            nn.Sequential(GatedConv(widths[i + 1] + widths[i], widths[i], 3),
                          GatedConv(widths[i], widths[i], 3))
            for i in reversed(range(levels)))
        self.to_img = nn.Conv2d(widths[0], img_channels, 3, padding=1)
        self.prefill = prefill
        if prefill:  # start as the smooth fill itself
            nn.init.zeros_(self.to_img.weight)
            nn.init.zeros_(self.to_img.bias)

    @property
    def stride(self) -> int:
        return 2**self.levels

    def forward(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """y (B, C, H, W) in [-1, 1], mask (B, 1, H, W) 1 = known -> (B, C, H, W) in [-1, 1]
        for every pixel (the known ones are not pasted here: see ``inpaint``)."""
        h0, w0 = y.shape[-2:]
        mask = mask.to(y.dtype)
        base = smooth_fill(y * mask, mask) if self.prefill else y * mask  # hole: fill or 0
        x = torch.cat([base, mask], 1)  # (B, C+1, H, W)
        # the padded border has mask 0: "missing", filled and cropped away
        x = pad_to_multiple(x, self.stride)  # (B, C+1, H', W')
        h = self.stem(x)  # (B, w0, H, W)
        skips = []
        for down in self.downs:
            skips.append(h)
            h = down(h)  # (B, w_{i+1}, H/2^{i+1}, W/2^{i+1})
        h = self.middle(h)
        for up, skip in zip(self.ups, reversed(skips)):
            h = F.interpolate(h, scale_factor=2, mode="nearest")  # (B, w, 2h, 2w)
            h = up(torch.cat([h, skip], 1))
        if self.prefill:  # a correction to the smooth fill, kept in [-1, 1]
            return (base + self.to_img(h)[..., :h0, :w0]).clamp(-1, 1)
        out = torch.tanh(self.to_img(h))  # (B, C, H', W')
        return out[..., :h0, :w0]

    def inpaint(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The completed image: known pixels of ``y`` exactly, the network's elsewhere."""
        out = self(y, mask)
        return torch.where(mask.to(torch.bool), y, out.to(y.dtype))


@MODELS.register("inpaint-unet", config=InpaintUNetConfig,
                 help="gated-conv U-Net + spectral-norm PatchGAN (inpainting)")
def build_inpaint_unet(cfg: InpaintUNetConfig, *, img_size: int, img_channels: int,
                       num_classes: int = 0):
    g = GatedUNet(img_channels=img_channels, width=cfg.g_width, levels=cfg.levels,
                  dilated=cfg.dilated, max_width=cfg.max_width, prefill=cfg.prefill)
    d = PatchDiscriminator(img_channels=img_channels, width=cfg.d_width, levels=cfg.d_levels,
                           max_width=cfg.max_width)
    return {"generator": g, "discriminator": d}
