"""U-Net restorer with self-attention at the lowest resolution (the articles' "CNN with
attention"), in the style of DRUNet (Zhang et al., TPAMI 2021).

Layout for ``levels`` resolutions: a 3x3 head conv to ``width`` channels; per level
``blocks`` residual blocks (conv-ReLU-conv + skip, no normalisation) then a 2x2 stride-2 conv
that halves the size and doubles the channels (capped at ``max_width``); at the lowest
resolution residual blocks around one SAGAN self-attention layer (every position sees the
whole image there, cheap because the map is 2**(levels-1) times smaller per side); the
decoder mirrors the encoder with 2x2 transposed convs, adding the encoder's features at each
level (additive skips as in DRUNet, cheaper than concatenation); a 3x3 tail conv predicts the
residual and the output is ``y + residual``.

With ``noise_level_input`` the net also reads a constant map sigma/255 (the noise standard
deviation on the [0, 1] scale) as an extra input channel, so one model serves every noise
level and can be told how hard to denoise (DRUNet, FFDNet). Any H, W: the input is padded
(reflection) to a multiple of 2**(levels-1) and the output cropped back.

Parameters with the defaults (width 32, levels 4, blocks 2, max_width 256): 4,337,666 for
gray without the noise map (4,337,954 with it), 4,338,820 for colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.nn.layers import ResBlock, SelfAttention, noise_level_map, pad_to_multiple
from pixelsmith.registry import MODELS


@dataclass
class UNetRestorerConfig:
    default_objective: ClassVar[str] = "restoration"
    name: str = "unet-restorer"
    width: int = 32  # channels at full resolution; doubles at every halving
    max_width: int = 256  # cap on channels at low resolutions
    levels: int = 4  # resolutions (levels - 1 halvings)
    blocks: int = 2  # residual blocks per level, in the encoder and in the decoder
    attention: bool = True  # self-attention at the lowest resolution
    noise_level_input: bool = False  # read sigma as an extra input map (non-blind denoising)


class UNetRestorer(nn.Module):
    def __init__(self, *, img_channels: int, width: int = 32, max_width: int = 256,
                 levels: int = 4, blocks: int = 2, attention: bool = True,
                 noise_level_input: bool = False):
        super().__init__()
        if levels < 1:
            raise PixelsmithError(f"model.levels must be at least 1, got {levels}")
        self.noise_level_input = noise_level_input
        self.stride = 2 ** (levels - 1)
        widths = [min(width * 2**i, max_width) for i in range(levels)]  # high res -> low res
        self.head = nn.Conv2d(img_channels + int(noise_level_input), widths[0], 3, padding=1)
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        for c, c_next in zip(widths[:-1], widths[1:]):
            self.enc.append(nn.Sequential(*[ResBlock(c) for _ in range(blocks)]))
            self.down.append(nn.Conv2d(c, c_next, 2, stride=2))
        c_low = widths[-1]
        mid: list[nn.Module] = [ResBlock(c_low) for _ in range(blocks)]
        if attention:
            mid.insert(len(mid) // 2, SelfAttention(c_low, use_sn=False))
        self.mid = nn.Sequential(*mid)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for c, c_next in zip(widths[:-1][::-1], widths[1:][::-1]):  # low res -> high res
            self.up.append(nn.ConvTranspose2d(c_next, c, 2, stride=2))
            self.dec.append(nn.Sequential(*[ResBlock(c) for _ in range(blocks)]))
        self.tail = nn.Conv2d(widths[0], img_channels, 3, padding=1)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = y.shape
        yp = pad_to_multiple(y, self.stride, "reflect")  # (N, C, H', W')
        inp = yp
        if self.noise_level_input:
            level = noise_level_map(sigma, yp, "unet-restorer")  # (N, 1, H', W')
            inp = torch.cat([yp, level], dim=1)  # (N, C+1, H', W')
        hid = self.head(inp)  # (N, width, H', W')
        skips = []
        for enc, down in zip(self.enc, self.down):
            hid = enc(hid)
            skips.append(hid)
            hid = down(hid)  # half the size, double the channels
        hid = self.mid(hid)  # (N, c_low, H'/stride, W'/stride), attention over all positions
        for up, dec, skip in zip(self.up, self.dec, reversed(skips)):
            hid = dec(up(hid) + skip)
        out = yp + self.tail(hid)  # (N, C, H', W'): residual output
        return out[:, :, :h, :w]  # crop the padding back off


@MODELS.register("unet-restorer", config=UNetRestorerConfig,
                 help="U-Net restorer with self-attention, optional noise-level map (restoration)")
def build_unet_restorer(cfg: UNetRestorerConfig, *, img_size: int, img_channels: int,
                        num_classes: int = 0):
    net = UNetRestorer(img_channels=img_channels, width=cfg.width, max_width=cfg.max_width,
                       levels=cfg.levels, blocks=cfg.blocks, attention=cfg.attention,
                       noise_level_input=cfg.noise_level_input)
    return {"restorer": net}
