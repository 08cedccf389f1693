"""Restore image files: read any picture, fit it to the model, write PNGs (``pixelsmith
restore``).

Files are read at their own size with the same mode conversion as the training loaders
(``transforms.to_8bit``: 16-bit scaled to 8-bit, palettes expanded, CMYK to RGB, EXIF
rotation applied). Transparency is kept aside and put back on the restored picture, so an
RGBA icon comes out RGBA. A colour picture whose three channels are equal counts as gray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from pixelsmith.data.transforms import rgb_to_gray, to_8bit
from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.restoration import Restorer

ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass
class ImageFile:
    path: Path
    pixels: torch.Tensor  # uint8 (C, H, W), C = 1 (gray) or 3 (colour)
    alpha: np.ndarray | None = None  # uint8 (H, W) transparency, when the file has one


@dataclass
class Result:
    path: Path  # input file
    written: list[Path] = field(default_factory=list)
    psnr_in: float | None = None  # --degrade: degraded vs clean, dB
    psnr_out: float | None = None  # --degrade: restored vs clean, dB


def read_image_file(path: Path) -> ImageFile:
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            alpha = None
            if img.mode == "P" and "transparency" in img.info:
                img = img.convert("RGBA")
            if img.mode in ALPHA_MODES:
                alpha = np.array(img.getchannel("A"))
                img = img.convert("L" if img.mode in ("LA", "La") else "RGB")
            img = to_8bit(img)
            a = np.array(img)
    except Exception as e:  # any decoder failure: one line naming the file
        raise UnreadableImage(f"cannot read image {path} "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:80]})") from None
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    pixels = torch.from_numpy(np.ascontiguousarray(a))
    if pixels.shape[0] == 3 and (pixels[0] == pixels[1]).all() and (pixels[1] == pixels[2]).all():
        pixels = pixels[:1]  # a gray picture stored as RGB
    return ImageFile(Path(path), pixels, alpha)


def luma_sr(img: ImageFile, r: Restorer) -> bool:
    """Colour picture, gray super-resolution model: enlarge Y with the net, Cb/Cr bicubic
    (how the SR papers apply their Y-channel models to colour images)."""
    return r.task == "sr" and r.img_channels == 1 and img.pixels.shape[0] == 3


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> full-range (JPEG) YCbCr in [0, 1]; Y is the 601 luma the
    gray training images were made with."""
    r, g, b = x
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([y, 0.5 + (b - y) / 1.772, 0.5 + (r - y) / 1.402])


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    y, cb, cr = x[0], x[1] - 0.5, x[2] - 0.5
    r, b = y + 1.402 * cr, y + 1.772 * cb
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return torch.stack([r, g, b]).clamp(0, 1)


def fit_channels(img: ImageFile, r: Restorer) -> torch.Tensor:
    """The file's pixels with the model's channel count, or a one-line error on colour
    into a gray model (there is no honest way to restore colour with a gray model)."""
    c = img.pixels.shape[0]
    if c == r.img_channels or luma_sr(img, r):
        return img.pixels
    if c == 1:  # gray into a colour model: the same gray in all three channels
        return img.pixels.expand(3, -1, -1)
    raise PixelsmithError(
        f"{img.path} is a colour image but the model in {r.path} restores gray images "
        f"(data.img_channels: 1); convert the picture to gray first, or use a colour model "
        f"(trained with data.img_channels: 3, e.g. configs/restoration/dncnn-color-blind.yaml)")


def to_file_channels(x01: torch.Tensor, img: ImageFile) -> torch.Tensor:
    """(C, H, W) model output in [0, 1] -> uint8 with the file's channel count."""
    q = (x01 * 255).round().clamp(0, 255).to(torch.uint8)
    if q.shape[0] == 3 and img.pixels.shape[0] == 1:
        q = rgb_to_gray(q[None])[0]
    return q


def save_png(pixels: torch.Tensor, path: Path, alpha: np.ndarray | None = None) -> Path:
    a = pixels.permute(1, 2, 0).numpy()
    pic = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
    if alpha is not None:
        mask = Image.fromarray(alpha)
        if mask.size != pic.size:  # super-resolution: the alpha grows with the picture
            mask = mask.resize(pic.size, Image.Resampling.BICUBIC)
        pic.putalpha(mask)
    path.parent.mkdir(parents=True, exist_ok=True)
    pic.save(path)
    return path


def side_by_side(panels: list[torch.Tensor], gap: int = 4) -> torch.Tensor:
    """uint8 (C, H, W) panels of one height, left to right with white gaps."""
    c, h = panels[0].shape[:2]
    white = torch.full((c, h, gap), 255, dtype=torch.uint8)
    parts = []
    for p in panels:
        parts += [p, white]
    return torch.cat(parts[:-1], dim=2)


def upscale_for_display(y01: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, h, w) -> (C, H, W) bicubic, clipped: the low-resolution input shown at the
    output's size (and the plain-interpolation baseline of the PSNR table)."""
    if tuple(y01.shape[-2:]) == tuple(size):
        return y01
    return F.interpolate(y01[None], size=size, mode="bicubic", align_corners=False)[0].clamp(0, 1)


def psnr_uint8(a: torch.Tensor, b: torch.Tensor, shave: int = 0) -> float:
    """PSNR in dB of two uint8 (C, H, W) images on [0, 255], the papers' way; ``shave``
    pixels of border left out (super-resolution)."""
    if shave:
        a, b = a[:, shave:-shave, shave:-shave], b[:, shave:-shave, shave:-shave]
    mse = (a.double() - b.double()).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def output_path(path: Path, root: Path | None, out_dir: Path, suffix: str = "") -> Path:
    rel = path.relative_to(root).parent if root is not None else Path()
    return out_dir / rel / f"{path.stem}{suffix}.png"


def restore_file(r: Restorer, path: Path, out_dir: Path, *, root: Path | None = None,
                 compare: bool = False, degrade: bool = False, tile: int = 256,
                 overlap: int = 80, sigma: float | None = None, seed: int = 0) -> Result:
    """Restore one file into ``out_dir`` (same stem, .png). With ``degrade`` the file is
    taken as clean and first degraded by the model's own training degradation (seeded),
    so the result can be scored against it."""
    from pixelsmith.data.degradations import crop_to_multiple
    from pixelsmith.objectives.restoration import degradation_from_config

    img = read_image_file(path)
    pixels = fit_channels(img, r)
    res = Result(path)
    if degrade:
        name, params = r.degradation
        if name == "gaussian-noise" and sigma is not None:  # a blind model at a chosen level
            params = {"sigma": sigma}
        _, _, deg = degradation_from_config({"name": name, **params})
        clean = crop_to_multiple(pixels, r.scale)
        if img.alpha is not None:
            img.alpha = img.alpha[: clean.shape[1], : clean.shape[2]]
        y01, known = deg(clean[None].float() / 255, generator=torch.Generator().manual_seed(seed))
        y01 = y01[0]
        if sigma is None and "sigma" in known:
            sigma = float(known["sigma"][0])
    else:
        clean, y01 = None, pixels.float() / 255
    if luma_sr(img, r):
        ycc = rgb_to_ycbcr(y01.clamp(0, 1))
        big = r.restore_image(ycc[:1], tile=tile, overlap=overlap, sigma=sigma)
        chroma = upscale_for_display(ycc[1:], tuple(big.shape[-2:]))
        x01 = ycbcr_to_rgb(torch.cat([big, chroma]))
    else:
        x01 = r.restore_image(y01, tile=tile, overlap=overlap, sigma=sigma)
    out = to_file_channels(x01, img)
    res.written.append(save_png(out, output_path(path, root, out_dir), img.alpha))
    shown_in = to_file_channels(upscale_for_display(y01.clamp(0, 1), out.shape[-2:]), img)
    if degrade:
        ref = to_file_channels(clean.float() / 255, img)
        shave = r.scale if r.scale > 1 else 0
        res.psnr_in, res.psnr_out = psnr_uint8(shown_in, ref, shave), psnr_uint8(out, ref, shave)
        y_small = to_file_channels(y01.clamp(0, 1), img)
        res.written.append(save_png(y_small, output_path(path, root, out_dir, "_degraded")))
    if compare:
        panels = [ref, shown_in, out] if degrade else [shown_in, out]
        res.written.append(save_png(side_by_side(panels),
                                    output_path(path, root, out_dir, "_compare")))
    return res
