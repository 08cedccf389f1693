"""Use a trained restorer on real images: the library behind ``pixelsmith restore``.

    r = load_restorer("runs/dncnn")           # task, img_channels, scale, degradation
    x01_hat = r(y01)                          # (N, C, h, w) in [0, 1], whole images
    x01_hat = r.restore_image(y01_chw)        # one image of any size, in tiles

Large images go through the network in overlapping tiles (``tiled_apply``): each tile's
output is weighted by a window that is zero next to the tile's inner edges (where the net
saw padding instead of the neighbouring pixels) and rises smoothly to one, and the weighted
sum is divided by the summed weights. A net whose receptive radius r is at most
``overlap // 4`` (every pixel used is then computed from real neighbours only) gives
exactly the whole-image output; with less overlap the tiles are still blended, without
visible seams.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from pixelsmith.config import Config, config_from_dict
from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.objectives.restoration import TASKS  # degradation -> task, one table
from pixelsmith.training.checkpoint import Checkpoint, load_checkpoint, load_nets
from pixelsmith.training.trainer import resolve_device


def _starts(length: int, tile: int, step: int) -> list[int]:
    """Tile origins along one axis: every ``step``, the last one flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def _ramp(length: int, inner_start: bool, inner_end: bool, margin: int, ramp: int,
          device) -> torch.Tensor:
    """(length,) blending weights: 0 for ``margin`` pixels next to an inner edge, then a
    raised-cosine rise over ``ramp`` pixels, 1 elsewhere; image borders keep weight 1."""
    d = torch.arange(length, dtype=torch.float64, device=device)

    def rise(dist):
        t = ((dist - margin + 0.5) / max(ramp, 1)).clamp(0, 1)
        return torch.where(dist < margin, torch.zeros_like(t), 0.5 - 0.5 * torch.cos(math.pi * t))

    w = torch.ones(length, dtype=torch.float64, device=device)
    if inner_start:
        w = w * rise(d)
    if inner_end:
        w = w * rise(length - 1 - d)
    return w


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, *, tile: int,
                overlap: int, scale: int = 1) -> torch.Tensor:
    """``fn`` over (N, C, H, W) in tiles of ``tile`` x ``tile`` input pixels overlapping by
    ``overlap``, blended into (N, C', H*scale, W*scale) on y's device.

    ``fn`` maps (N, C, h, w) to (N, C', h*scale, w*scale) and may run on another device.
    Exact (equal to ``fn(y)``) when fn's receptive radius is at most overlap // 4.
    """
    if y.dim() != 4:
        raise PixelsmithError(f"tiled_apply needs (N, C, H, W), got {tuple(y.shape)}")
    n, _, h, w = y.shape
    if overlap < 0:
        raise PixelsmithError(f"--overlap must be >= 0 pixels, got {overlap}")
    if tile is None or tile <= 0 or (h <= tile and w <= tile):
        return fn(y).to(y.device)
    if tile < 2 * overlap or tile - overlap < 1:
        raise PixelsmithError(f"--tile ({tile}) must be at least twice --overlap ({overlap})")
    step = tile - overlap
    margin, ramp = overlap // 4, overlap // 2
    out = weight = None
    for top in _starts(h, tile, step):
        for left in _starts(w, tile, step):
            th, tw = min(tile, h), min(tile, w)
            part = fn(y[:, :, top : top + th, left : left + tw]).to(y.device)
            if out is None:
                out = torch.zeros((n, part.shape[1], h * scale, w * scale), dtype=part.dtype,
                                  device=y.device)
                weight = torch.zeros((h * scale, w * scale), dtype=torch.float64,
                                     device=y.device)
            # windows in output pixels: the input margin times the scale
            wy = _ramp(th * scale, top > 0, top + th < h, margin * scale, ramp * scale, y.device)
            wx = _ramp(tw * scale, left > 0, left + tw < w, margin * scale, ramp * scale,
                       y.device)
            win = wy[:, None] * wx[None, :]
            ys, xs = slice(top * scale, (top + th) * scale), slice(left * scale,
                                                                  (left + tw) * scale)
            out[:, :, ys, xs] += part * win.to(part.dtype)
            weight[ys, xs] += win
    return out / weight.clamp_min(1e-12).to(out.dtype)


@dataclass
class Restorer:
    """A trained restoration network with what it was trained for."""

    net: torch.nn.Module  # eval mode, on ``device``
    cfg: Config
    path: Path  # the checkpoint folder
    device: torch.device
    task: str  # denoise, sr or deblur
    img_channels: int
    scale: int
    degradation: tuple[str, dict]  # (name, params) the model was trained on

    def default_sigma(self) -> float | None:
        """The noise level the model was trained at, when it was one fixed level."""
        name, params = self.degradation
        if name == "gaussian-noise" and params.get("sigma_min") is None:
            return float(params.get("sigma") or 25.0)
        s = params.get("sigma")
        return float(s) if s is not None else None

    @property
    def reads_sigma(self) -> bool:
        """Whether the network takes the noise level as an input (DnCNN/DRUNet-style)."""
        return bool(getattr(self.net, "noise_level_input", False))

    def _sigma(self, sigma, n: int) -> torch.Tensor | None:
        if sigma is None:
            sigma = self.default_sigma()
        if sigma is None:
            if self.reads_sigma:
                raise PixelsmithError(f"the model in {self.path} reads the noise level and was "
                                      "trained on a range: give it (--sigma on the 0-255 scale)")
            return None
        return torch.as_tensor(sigma, dtype=torch.float32).reshape(-1).expand(n).to(self.device)

    @torch.no_grad()
    def __call__(self, y01: torch.Tensor, sigma=None) -> torch.Tensor:
        """(N, C, h, w) observations in [0, 1] -> (N, C, h*s, w*s) restored, in [0, 1]."""
        if y01.dim() != 4 or y01.shape[1] != self.img_channels:
            raise PixelsmithError(f"the model in {self.path} restores {self.img_channels}-channel "
                                  f"images, got a tensor of shape {tuple(y01.shape)}")
        y = y01.to(self.device, torch.float32) * 2 - 1
        x = self.net(y, self._sigma(sigma, y.shape[0]))
        return ((x.float() + 1) / 2).clamp(0, 1)

    @torch.no_grad()
    def restore_image(self, y01_chw: torch.Tensor, tile: int = 256, overlap: int = 80,
                      sigma=None) -> torch.Tensor:
        """One (C, H, W) image of any size in [0, 1] -> (C, H*s, W*s) on the CPU, in tiles
        of ``tile`` pixels (0 = whole image at once)."""
        y = y01_chw[None].float().cpu()
        out = tiled_apply(lambda t: self(t, sigma).cpu(), y, tile=tile, overlap=overlap,
                          scale=self.scale)
        return out[0].clamp(0, 1)


def load_restorer(run_or_ckpt: str | Path | Checkpoint, device: str = "auto",
                  use_ema: bool = True) -> Restorer:
    """Rebuild a restoration run's network from its checkpoint (weights only); a run
    folder, a checkpoint folder or an already loaded ``Checkpoint``."""
    ckpt = run_or_ckpt if isinstance(run_or_ckpt, Checkpoint) else load_checkpoint(run_or_ckpt)
    family = ckpt.meta.get("family")
    if family != "restoration":
        raise PixelsmithError(f"{ckpt.path} holds a {family or 'unknown'} model, not a "
                              "restoration model (train one with configs/restoration/*.yaml)")
    try:
        cfg = config_from_dict(ckpt.config)
    except PixelsmithError as e:
        raise PixelsmithError(f"{ckpt.path}: config in checkpoint is not usable: {e}") from None
    dev = resolve_device(device)
    nets = build_model(cfg.model, img_size=cfg.data.patch_size or cfg.data.img_size,
                       img_channels=cfg.data.img_channels, num_classes=0)
    load_nets(dict(nets.items()), ckpt.model, ckpt.path)
    net = nets["restorer"]
    if use_ema and ckpt.ema is not None:
        load_nets({"restorer": net}, ckpt.ema, ckpt.path)
    spec = dict(cfg.objective.degradation)
    name = spec.pop("name")
    task = TASKS.get(name, "denoise")
    scale = int(spec.get("scale", 2)) if task == "sr" else 1
    return Restorer(net.to(dev).eval(), cfg, ckpt.path, dev, task, cfg.data.img_channels,
                    scale, (name, spec))
