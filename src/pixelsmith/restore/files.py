"""Restore image files: read any picture, fit it to the model, write PNGs (``pixelsmith
restore``).

Files are read at their own size with the same mode conversion as the training loaders
(``transforms.to_8bit``: 16-bit scaled to 8-bit, palettes expanded, CMYK to RGB, EXIF
rotation applied). Transparency is kept aside and put back on the restored picture, so an
RGBA icon comes out RGBA. A colour picture whose three channels are equal counts as gray.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from pixelsmith.data.image_files import ImageFile, read_image, save_png, side_by_side
from pixelsmith.data.transforms import rgb_to_gray, uint8_to_unit, unit_to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.restoration_protocol import psnr255, shave
from pixelsmith.restore.restorer import Restorer
from pixelsmith.restore.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, reporting_tiles

PROGRESS_MIN_TILES = 64  # fewer tiles take seconds: a progress line would only be noise
OUTPUT_SUFFIXES = ("", "_compare", "_degraded")  # what restore / inpaint write per input


@dataclass
class Result:
    path: Path  # input file
    written: list[Path] = field(default_factory=list)
    psnr_in: float | None = None  # --degrade: degraded vs clean, dB
    psnr_out: float | None = None  # --degrade: restored vs clean, dB


def read_image_file(path: Path) -> ImageFile:
    """The file at its own size with its own channels; transparency kept aside."""
    return read_image(path, keep_alpha=True, equal_rgb_is_gray=True)


def luma_sr(img: ImageFile, r: Restorer) -> bool:
    """Colour picture, gray super-resolution model: enlarge Y with the net, Cb/Cr bicubic
    (how the SR papers apply their Y-channel models to colour images)."""
    return r.task == "sr" and r.img_channels == 1 and img.pixels.shape[0] == 3


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> full-range (JPEG) YCbCr in [0, 1]; Y is the 601 luma the
    gray training images were made with. Not shared with ``transforms.rgb_to_gray`` (Pillow's
    integer luma of uint8) or ``restoration_protocol.rgb_to_y`` (MATLAB's studio-swing Y): the
    weights agree, the range and rounding do not, and the inverse needs the float chroma."""
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
    q = unit_to_uint8(x01)
    if q.shape[0] == 3 and img.pixels.shape[0] == 1:
        q = rgb_to_gray(q[None])[0]
    return q


def upscale_for_display(y01: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, h, w) -> (C, H, W) bicubic, clipped: the low-resolution input shown at the
    output's size (and the plain-interpolation baseline of the PSNR table)."""
    if tuple(y01.shape[-2:]) == tuple(size):
        return y01
    return F.interpolate(y01[None], size=size, mode="bicubic", align_corners=False)[0].clamp(0, 1)


def psnr_uint8(a: torch.Tensor, b: torch.Tensor, border: int = 0) -> float:
    """PSNR in dB of two uint8 (C, H, W) images on [0, 255], the papers' way; ``border``
    pixels left out (super-resolution)."""
    a, b = shave(a[None].double(), border), shave(b[None].double(), border)
    return psnr255(a, b).item()


def check_sigma(sigma: float | None) -> None:
    """``--sigma``: a noise level on the 0-255 scale (NaN would restore to black)."""
    if sigma is not None and not (math.isfinite(sigma) and 0 <= sigma <= 255):
        raise PixelsmithError(f"--sigma must be a noise level in 0..255, got {sigma:g}")


def check_output_folder(out: Path, inputs: list[Path], root: Path | None,
                        keep: list[Path] = ()) -> None:
    """Refuse an ``--out`` that is a file, or whose outputs would replace an input (``-o``
    on the input folder, ``-i photo.png -o .``) or a file in ``keep`` (the mask), naming
    it; before any work."""
    if out.exists() and not out.is_dir():
        raise PixelsmithError(f"--out {out} is a file; --out must be a folder (the restored "
                              "pictures are written into it as <name>.png)")
    sources = {}
    for p in [*inputs, *keep]:
        try:
            sources[Path(p).resolve()] = p
        except (OSError, RuntimeError):  # a symlink loop: skipped later, never written over
            continue
    for p in inputs:
        for suffix in OUTPUT_SUFFIXES:  # nested like the input folder, or flat (inpainting)
            nested = output_path(p, root, out, suffix)
            for dest in {nested, out / f"{p.stem}{suffix}.png"}:
                hit = sources.get(dest.resolve())
                if hit is not None:
                    what = "its restored version" if hit == p else f"the output of {p}"
                    raise PixelsmithError(f"--out {out} would overwrite the input {hit} with "
                                          f"{what}; choose another --out folder")


class TileReport:
    """Progress of one very large picture on stderr, a line every few seconds:
    ``big.png: tile 120/900 (13%)``; small pictures print nothing."""

    def __init__(self, path: Path, every_s: float = 3.0):
        self.path, self.every_s, self.last = path, every_s, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if total < PROGRESS_MIN_TILES or (now - self.last < self.every_s and done < total):
            return
        self.last = now
        print(f"{self.path.name}: tile {done}/{total} ({100 * done // total}%)",
              file=sys.stderr, flush=True)


def output_path(path: Path, root: Path | None, out_dir: Path, suffix: str = "") -> Path:
    rel = path.relative_to(root).parent if root is not None else Path()
    return out_dir / rel / f"{path.stem}{suffix}.png"


def restore_file(r: Restorer, path: Path, out_dir: Path, *, root: Path | None = None,
                 compare: bool = False, degrade: bool = False, tile: int = DEFAULT_TILE,
                 overlap: int = DEFAULT_OVERLAP, sigma: float | None = None, seed: int = 0,
                 image: ImageFile | None = None,
                 on_tile: Callable[[int, int], None] | None = None) -> Result:
    """Restore one file into ``out_dir`` (same stem, .png). With ``degrade`` the file is
    taken as clean and first degraded by the model's own training degradation (seeded),
    so the result can be scored against it. ``image``: the file already decoded (by a
    caller that looked at it to pick the model), so a large picture is decoded once.
    ``on_tile(done, total)`` hears of each tile (default: a line on stderr for very large
    pictures; the web app moves its progress bar)."""
    from pixelsmith.data.degradations import crop_to_multiple
    from pixelsmith.objectives.restoration import degradation_from_config

    check_sigma(sigma)
    img = image if image is not None else read_image_file(path)
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
        y01, known = deg(uint8_to_unit(clean[None]), generator=torch.Generator().manual_seed(seed))
        y01 = y01[0]
        if sigma is None and "sigma" in known:
            sigma = float(known["sigma"][0])
    else:
        clean, y01 = None, uint8_to_unit(pixels)
    with reporting_tiles(on_tile or TileReport(path)):  # Ctrl-C between tiles: nothing written
        if luma_sr(img, r):
            ycc = rgb_to_ycbcr(y01.clamp(0, 1))
            big = r.restore_image(ycc[:1], tile=tile, overlap=overlap, sigma=sigma)
            chroma = upscale_for_display(ycc[1:], tuple(big.shape[-2:]))
            x01 = ycbcr_to_rgb(torch.cat([big, chroma]))
        else:
            x01 = r.restore_image(y01, tile=tile, overlap=overlap, sigma=sigma)
    out = to_file_channels(x01, img)
    res.written.append(save_png(out, output_path(path, root, out_dir), img.alpha))
    if not (degrade or compare):  # nothing to score or show: skip 12 MP of conversions
        return res
    shown_in = to_file_channels(upscale_for_display(y01.clamp(0, 1), out.shape[-2:]), img)
    if degrade:
        ref = to_file_channels(uint8_to_unit(clean), img)
        border = r.scale if r.scale > 1 else 0
        res.psnr_in, res.psnr_out = psnr_uint8(shown_in, ref, border), psnr_uint8(out, ref, border)
        y_small = to_file_channels(y01.clamp(0, 1), img)
        res.written.append(save_png(y_small, output_path(path, root, out_dir, "_degraded")))
    if compare:
        panels = [ref, shown_in, out] if degrade else [shown_in, out]
        res.written.append(save_png(side_by_side(panels),
                                    output_path(path, root, out_dir, "_compare")))
    return res
