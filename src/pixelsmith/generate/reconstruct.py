"""Reconstruct a user's images through a VAE: the library behind ``pixelsmith reconstruct``."""

from __future__ import annotations

from pathlib import Path

import torch

from pixelsmith.data.image_folder import decode_file, decode_files, scan_folder, warn_skipped
from pixelsmith.data.transforms import from_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.training.run_log import save_grid


def read_images(path: str | Path, img_size: int, img_channels: int) -> torch.Tensor:
    """One image file or a folder of them (recursively) -> uint8 (N, C, S, S)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise PixelsmithError(f"--input {path} does not exist")
    if path.is_file():
        x = decode_file(path, img_size, img_channels)
        if isinstance(x, str):
            raise PixelsmithError(f"--input {path} is not a readable image ({x})")
        return x[None]  # (1, C, S, S)
    paths, others = scan_folder(path)
    if not paths:
        raise PixelsmithError(f"--input {path} holds no image files")
    images, _, failed = decode_files(paths, img_size, img_channels)
    warn_skipped(path, failed, others)
    if len(images) == 0:
        raise PixelsmithError(f"none of the image files under --input {path} could be decoded")
    return images


@torch.no_grad()
def reconstruct(model, images: torch.Tensor, *, label: int | None = None,
                batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images -> (originals, reconstructions), both in [-1, 1] on the CPU."""
    objective = model.objective
    if not hasattr(objective, "reconstruct"):
        raise PixelsmithError(f"{model.path}: model '{model.cfg.model.name}' has no encoder, "
                              "so it cannot reconstruct images")
    if getattr(objective, "conditional", False) and label is None:
        raise PixelsmithError(f"{model.path}: this VAE is conditional; pass --label N "
                              f"(0..{objective.info.num_classes - 1})")
    x = from_uint8(images)
    out = []
    for i in range(0, len(x), batch_size):
        chunk = x[i : i + batch_size]
        labels = None if label is None or not objective.conditional else \
            torch.full((len(chunk),), label, dtype=torch.long)
        out.append(objective.reconstruct(model.net, chunk, labels).float().cpu())
    return x, torch.cat(out)


def write_pairs(originals: torch.Tensor, recons: torch.Tensor, out: str | Path,
                pairs_per_row: int = 4) -> Path:
    """One PNG: each original followed by its reconstruction, ``pairs_per_row`` pairs a row."""
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise PixelsmithError(f"--out must be an image file (.png), got {out}")
    pairs = torch.stack([originals, recons], dim=1).flatten(0, 1)  # (2N, C, H, W) o0 r0 o1 r1
    save_grid(pairs, out, nrow=2 * max(1, min(pairs_per_row, len(originals))))
    return out
