"""Use a trained restorer on real images: the library behind ``pixelsmith restore``.

    r = load_restorer("runs/dncnn")           # task, img_channels, scale, degradation
    x01_hat = r(y01)                          # (N, C, h, w) in [0, 1], whole images
    x01_hat = r.restore_image(y01_chw)        # one image of any size, in tiles

Big images go through the network in tiles (``tiling.tiled_apply``). A blind denoiser that
reads the noise level and is not told it estimates it from the picture
(``noise_level.estimate_sigma``), once per whole image, so every tile gets the same level.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from pixelsmith.config import Config
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import load_model, require_objective
from pixelsmith.restore.noise_level import estimate_sigma
from pixelsmith.restore.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, tiled_apply
from pixelsmith.training.checkpoint import Checkpoint


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
    last_sigma: float | None = None  # the level the last restore_image used (told or estimated)
    precision: str = "fp32"  # or "bf16": the network under bf16 autocast (see with_precision)

    def with_precision(self, precision: str) -> Restorer:
        """This restorer running in ``precision``: fp32, bf16, or auto (bf16 where the
        device runs it natively, e.g. a CPU with AVX512-BF16, else fp32). On such a CPU
        bf16 restores about twice as fast; on the packaged colour denoiser it moved Kodak24
        by 0.003 dB (docs/restoration.md)."""
        from pixelsmith.devices import uses_bf16

        bf16 = uses_bf16(precision, self.device)
        return dataclasses.replace(self, precision="bf16" if bf16 else "fp32")

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

    @property
    def estimates_sigma(self) -> bool:
        """Whether a level left out is estimated from the picture: a net that reads the
        level, trained on a range of Gaussian noise (no one level to fall back on)."""
        return self.reads_sigma and self.default_sigma() is None

    def _sigma(self, sigma, y01: torch.Tensor) -> torch.Tensor | None:
        n = y01.shape[0]
        if sigma is None:
            sigma = self.default_sigma()
        if sigma is None:
            if not self.reads_sigma:
                return None
            sigma = estimate_sigma(y01)  # (N,): each picture its own level
        return torch.as_tensor(sigma, dtype=torch.float32).reshape(-1).expand(n).to(self.device)

    @torch.no_grad()
    def __call__(self, y01: torch.Tensor, sigma=None) -> torch.Tensor:
        """(N, C, h, w) observations in [0, 1] -> (N, C, h*s, w*s) restored, in [0, 1]."""
        if y01.dim() != 4 or y01.shape[1] != self.img_channels:
            raise PixelsmithError(f"the model in {self.path} restores {self.img_channels}-channel "
                                  f"images, got a tensor of shape {tuple(y01.shape)}")
        y01 = y01.to(self.device, torch.float32)
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == "bf16"):
            x = self.net(y01 * 2 - 1, self._sigma(sigma, y01))
        return ((x.float() + 1) / 2).clamp(0, 1)

    def per_channel(self) -> Restorer:
        """This gray denoiser as a colour one that denoises each channel on its own (no
        use of the correlation between channels: a colour model does better)."""
        if self.img_channels != 1 or self.task != "denoise":
            raise PixelsmithError(f"only a gray denoiser runs per channel; the model in "
                                  f"{self.path} is a {self.img_channels}-channel {self.task} one")
        return dataclasses.replace(self, net=PerChannel(self.net), img_channels=3)

    @torch.no_grad()
    def restore_image(self, y01_chw: torch.Tensor, tile: int = DEFAULT_TILE,
                      overlap: int = DEFAULT_OVERLAP,
                      sigma=None) -> torch.Tensor:
        """One (C, H, W) image of any size in [0, 1] -> (C, H*s, W*s) on the CPU, in tiles
        of ``tile`` pixels (0 = whole image at once)."""
        y = y01_chw[None].float().cpu()
        if sigma is None and self.estimates_sigma:  # one level for the whole picture
            sigma = float(estimate_sigma(y)[0])
        self.last_sigma = None if sigma is None else float(sigma)
        out = tiled_apply(lambda t: self(t, sigma).cpu(), y, tile=tile, overlap=overlap,
                          scale=self.scale)
        return out[0].clamp(0, 1)


class PerChannel(torch.nn.Module):
    """A gray network on every channel of colour images: (N, C, H, W) -> N*C gray images."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net
        self.noise_level_input = getattr(net, "noise_level_input", False)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        n, c, h, w = y.shape
        s = None if sigma is None else sigma.reshape(-1).expand(n).repeat_interleave(c)
        return self.net(y.reshape(n * c, 1, h, w), s).reshape(n, c, *y.shape[-2:])


def load_restorer(run_or_ckpt: str | Path | Checkpoint, device: str = "auto",
                  use_ema: bool = True) -> Restorer:
    """A restoration run's network (EMA weights when kept) with what it was trained for: a
    run folder, a checkpoint folder or an already loaded ``Checkpoint``."""
    model = load_model(run_or_ckpt, device=device, use_ema=use_ema)
    require_objective(model, "restoration", "{path} holds a {have} model, not a restoration "
                      "model (train one with configs/restoration/*.yaml)")
    obj = model.objective
    return Restorer(model.net, model.cfg, model.path, obj.device, obj.task,
                    model.cfg.data.img_channels, obj.scale, (obj.deg_name, dict(obj.deg_params)))
