"""Convolutional-recurrent restorer (the articles' "CNN-LSTM"): one small CNN stage applied
``stages`` times, a convolutional LSTM cell carrying its state from stage to stage, each
stage refining the residual of the one before (in the spirit of PReNet, Ren et al. CVPR
2019, with ConvLSTM from Shi et al. NeurIPS 2015).

Layout: the input (padded by reflection to a multiple of ``down``) is pixel-unshuffled by
``down`` (FFDNet-style: every conv then runs on 1/down**2 of the pixels, which is what
makes the recurrence affordable on a CPU), optionally joined by a constant noise-level
map sigma/255 (``noise_level_input``, as unet-restorer), and a 3x3 head conv makes the
features ``f``. Then, for t = 1..stages, with the SAME weights at every stage:

    x_t = block(cat(f, r_{t-1}))           conv 3x3 + ReLU, then ``blocks`` residual blocks
    h_t, c_t = ConvLSTM(x_t, (h_{t-1}, c_{t-1}))
    r_t = tail(h_t)                         the residual estimate, unshuffled

with r_0, h_0, c_0 = 0. The output is ``y + pixel_shuffle(r_T)`` cropped back to H x W.
Since the weights are shared, ``stages`` can be changed after training (more stages,
more refinement; the parameter count does not depend on it).

Parameters with the defaults (width 48, stages 4, blocks 1, down 2): 233,668 for gray
(234,100 with the noise-level map), 244,044 for colour. Training with those defaults on 64 px
gray patches runs as many images a second on a CPU as the 1.04M-parameter 3-level
unet-restorer of configs/zoo/denoise-gray.yaml (four stages at half resolution cost about
what the U-Net's full-resolution level does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pixelsmith.errors import PixelsmithError
from pixelsmith.nn.layers import ResBlock, noise_level_map, pad_to_multiple
from pixelsmith.registry import MODELS


@dataclass
class ConvLSTMRestorerConfig:
    default_objective: ClassVar[str] = "restoration"
    name: str = "convlstm-restorer"
    width: int = 48  # channels of the stage and of the LSTM state
    stages: int = 4  # recurrent stages (shared weights; may be changed after training)
    blocks: int = 1  # residual blocks in each stage, after its input conv
    down: int = 2  # pixel-unshuffle factor: the stages run at 1/down of the resolution
    noise_level_input: bool = False  # read sigma as an extra input map (one model, all levels)


class ConvLSTMCell(nn.Module):
    """h, c = cell(x, (h, c)): the four gates from one 3x3 conv over cat(x, h)."""

    def __init__(self, c_in: int, c_hidden: int):
        super().__init__()
        self.c_hidden = c_hidden
        self.gates = nn.Conv2d(c_in + c_hidden, 4 * c_hidden, 3, padding=1)
        with torch.no_grad():  # forget gate open at the start: the state is carried
            self.gates.bias[c_hidden:2 * c_hidden].fill_(1.0)

    def zero_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.new_zeros(x.shape[0], self.c_hidden, *x.shape[2:])  # (N, c_hidden, H, W)
        return h, h

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        gates = self.gates(torch.cat([x, h], dim=1))  # (N, 4 * c_hidden, H, W)
        i, f, o, g = gates.chunk(4, dim=1)  # input, forget, output gates; candidate
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (N, c_hidden, H, W)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMRestorer(nn.Module):
    def __init__(self, *, img_channels: int, width: int = 48, stages: int = 4, blocks: int = 1,
                 down: int = 2, noise_level_input: bool = False):
        super().__init__()
        if stages < 1 or down < 1:
            raise PixelsmithError(f"model.stages and model.down must be at least 1, got "
                                  f"{stages} and {down}")
        self.noise_level_input, self.stages, self.down = noise_level_input, stages, down
        self.stride = down  # inputs are padded to a multiple of this (read by the ONNX export)
        c_low = img_channels * down * down  # the image's channels after pixel-unshuffle
        self.head = nn.Conv2d(c_low + int(noise_level_input), width, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(width + c_low, width, 3, padding=1),
                                   nn.ReLU(inplace=True), *[ResBlock(width) for _ in range(blocks)])
        self.cell = ConvLSTMCell(width, width)
        self.tail = nn.Conv2d(width, c_low, 3, padding=1)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        n, _, h, w = y.shape
        yp = pad_to_multiple(y, self.down, "reflect")  # (N, C, H', W')
        low = F.pixel_unshuffle(yp, self.down)  # (N, C*down^2, H'/down, W'/down)
        inp = low
        if self.noise_level_input:
            level = noise_level_map(sigma, low, "convlstm-restorer")  # (N, 1, h', w')
            inp = torch.cat([low, level], dim=1)  # (N, C*down^2 + 1, h', w')
        feat = torch.relu(self.head(inp))  # (N, width, h', w')
        state = self.cell.zero_state(feat)
        res = torch.zeros_like(low)  # r_0: (N, C*down^2, h', w')
        for _ in range(self.stages):  # the same weights at every stage
            x = self.block(torch.cat([feat, res], dim=1))  # (N, width, h', w')
            state = self.cell(x, state)
            res = self.tail(state[0])  # (N, C*down^2, h', w'): this stage's residual
        out = yp + F.pixel_shuffle(res, self.down)  # (N, C, H', W')
        return out[:, :, :h, :w]  # crop the padding back off


@MODELS.register("convlstm-restorer", config=ConvLSTMRestorerConfig,
                 help="CNN-LSTM: a small CNN stage repeated, a ConvLSTM state carried "
                      "across stages, at half resolution (restoration)")
def build_convlstm_restorer(cfg: ConvLSTMRestorerConfig, *, img_size: int, img_channels: int,
                            num_classes: int = 0):
    net = ConvLSTMRestorer(img_channels=img_channels, width=cfg.width, stages=cfg.stages,
                           blocks=cfg.blocks, down=cfg.down,
                           noise_level_input=cfg.noise_level_input)
    return {"restorer": net}
