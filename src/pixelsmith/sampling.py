"""Generate images from a trained run: the library behind ``pixelsmith sample``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from pixelsmith.config import Config, config_from_dict
from pixelsmith.data.transforms import from_uint8, to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.objectives import DataInfo, Objective
from pixelsmith.registry import OBJECTIVES
from pixelsmith.training.checkpoint import load_checkpoint, load_nets
from pixelsmith.training.run_log import save_grid
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


def write_images(images: torch.Tensor, out: str | Path, nrow: int | None = None) -> Path:
    """A ``.png``/``.jpg`` path gets one grid (``nrow`` images a row); any other path
    becomes a folder of files."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".jpg", ".jpeg"):
        save_grid(images, out, nrow=nrow)
        return out
    from pixelsmith.data.image_files import save_png

    out.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(to_uint8(images).cpu()):  # (C, H, W) each
        save_png(p, out / f"{i:06d}.png")
    return out


def class_labels(model: LoadedModel, num: int, class_index: int | None) -> torch.Tensor | None:
    """Labels for ``num`` samples: all ``class_index``, or None (the model picks at random)."""
    k = model.objective.sample_classes
    if class_index is None:
        return None
    if not k:
        raise PixelsmithError(f"--class: the model in {model.path} is not conditional")
    if not 0 <= class_index < k:
        raise PixelsmithError(f"--class must be in 0..{k - 1}, got {class_index}")
    return torch.full((num,), class_index, dtype=torch.long)


def per_class_grid(model: LoadedModel, per_class: int, *, seed: int = 0) -> torch.Tensor:
    """``per_class`` samples of every class, class k in row k: (K * per_class, C, H, W)."""
    k = model.objective.sample_classes
    if not k:
        raise PixelsmithError(f"--per-class: the model in {model.path} is not conditional")
    labels = torch.arange(k).repeat_interleave(per_class)  # (K * per_class,)
    return generate(model, k * per_class, seed=seed, labels=labels)


def load_images(paths: list[str | Path], img_size: int, img_channels: int) -> torch.Tensor:
    """Image files -> (N, C, H, W) floats in [-1, 1], converted like the training data."""
    from pixelsmith.data.image_folder import decode_file

    out = []
    for p in map(Path, paths):
        x = decode_file(p, img_size, img_channels)
        if isinstance(x, str):
            raise PixelsmithError(f"cannot read image {p} ({x})")
        out.append(x)
    return from_uint8(torch.stack(out))


@torch.no_grad()
def interpolate(model: LoadedModel, steps: int, *, rows: int = 1, seed: int = 0,
                class_index: int | None = None,
                between: tuple[str | Path, str | Path] | None = None) -> torch.Tensor:
    """(rows, steps, C, H, W): each row walks from one input to another (spherical in z).
    With ``between`` the two ends are the encodings of two image files (one row)."""
    if steps < 2:
        raise PixelsmithError(f"--steps must be at least 2, got {steps}")
    obj, t = model.objective, torch.linspace(0, 1, steps)
    if between is not None:
        info = obj.info
        x = load_images(list(between), info.img_size, info.img_channels).to(obj.device)
        codes = obj.encode(model.net, x)
        ends = [({k: v[0:1].cpu() for k, v in codes.items()},
                 {k: v[1:2].cpu() for k, v in codes.items()})]
    else:
        gen = torch.Generator().manual_seed(seed)
        labels = class_labels(model, 2 * rows, class_index)
        if labels is None and obj.sample_classes:  # same random class at both ends of a row
            labels = torch.randint(obj.sample_classes, (rows,), generator=gen).repeat(2)
        inputs = obj.sample_inputs(2 * rows, gen, labels)
        ends = [({k: v[i : i + 1] for k, v in inputs.items()},
                 {k: v[rows + i : rows + i + 1] for k, v in inputs.items()}) for i in range(rows)]
    out = [obj.sample(model.net, obj.interpolate_inputs(a, b, t)).float().cpu() for a, b in ends]
    return torch.stack(out)  # (rows, steps, C, H, W)


def write_interpolation(frames: torch.Tensor, out: str | Path, *,
                        fps: int = 8) -> tuple[Path, Path]:
    """A grid PNG (one row per walk) and an animated GIF beside it (one frame per step)."""
    from PIL import Image
    from torchvision.utils import make_grid

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise PixelsmithError(f"--out must be a .png file, got {out}")
    rows, steps = frames.shape[:2]
    save_grid(frames.flatten(0, 1), out, nrow=steps)
    pics = []
    for s in range(steps):
        grid = make_grid(to_uint8(frames[:, s]), nrow=1, padding=2, pad_value=255)  # (C, H, W)
        pics.append(Image.fromarray(grid.permute(1, 2, 0).numpy()))
    # ping-pong so the loop has no jump back
    seq = pics + pics[-2:0:-1]
    gif = out.with_suffix(".gif")
    seq[0].save(gif, save_all=True, append_images=seq[1:], duration=int(1000 / fps), loop=0)
    return out, gif
