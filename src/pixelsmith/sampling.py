"""Generate images from a trained run: the library behind ``pixelsmith sample``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pixelsmith.config import Config, config_from_dict
from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.objectives import DataInfo, Objective
from pixelsmith.registry import OBJECTIVES
from pixelsmith.training.checkpoint import load_checkpoint, load_nets
from pixelsmith.training.run_log import save_grid, to_uint8
from pixelsmith.training.trainer import resolve_device


@dataclass
class LoadedModel:
    cfg: Config
    meta: dict
    objective: Objective
    net: nn.Module  # the sampling network, EMA weights when the run kept them
    path: Path
    used_ema: bool


def load_model(run_or_ckpt: str | Path, *, device: str = "auto", use_ema: bool = True
               ) -> LoadedModel:
    """Rebuild a run's networks from a checkpoint (weights only; no code is loaded)."""
    ckpt = load_checkpoint(run_or_ckpt)
    try:
        cfg = config_from_dict(ckpt.config)
    except PixelsmithError as e:
        raise PixelsmithError(f"{ckpt.path}: config in checkpoint is not usable: {e}") from None
    dev = resolve_device(device)
    info = DataInfo(cfg.data.img_size, cfg.data.img_channels, ckpt.meta["data"]["num_classes"])
    nets = build_model(cfg.model, img_size=info.img_size, img_channels=info.img_channels,
                       num_classes=info.num_classes)
    load_nets(dict(nets.items()), ckpt.model, ckpt.path)
    objective = OBJECTIVES.get(cfg.objective.name)(cfg.objective, nets.to(dev), info, dev)
    name = objective.sample_module
    used_ema = use_ema and ckpt.ema is not None
    if used_ema:
        load_nets({name: nets[name]}, ckpt.ema, ckpt.path)
    return LoadedModel(cfg, ckpt.meta, objective, nets[name].eval(), ckpt.path, used_ema)


@torch.no_grad()
def generate(model: LoadedModel, num: int, *, seed: int = 0, batch_size: int = 256,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """``num`` images in [-1, 1] on the CPU; the same seed gives the same images."""
    if num < 1:
        raise PixelsmithError(f"--num must be at least 1, got {num}")
    inputs = model.objective.sample_inputs(num, torch.Generator().manual_seed(seed), labels)
    out = []
    for i in range(0, num, batch_size):
        chunk = {k: v[i : i + batch_size] for k, v in inputs.items()}
        out.append(model.objective.sample(model.net, chunk).float().cpu())
    return torch.cat(out)


def write_images(images: torch.Tensor, out: str | Path) -> Path:
    """A ``.png``/``.jpg`` path gets one grid; any other path becomes a folder of files."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".jpg", ".jpeg"):
        save_grid(images, out)
        return out
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    pixels = to_uint8(images).permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    for i, p in enumerate(pixels):
        Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p).save(out / f"{i:06d}.png")
    return out
