"""Image files in and out: the one reader and the one PNG writer of every command that
works on a user's pictures or a data set (training folders, restore, inpaint, reconstruct,
interpolate --between, masks, the test sets, sample folders).

Reading uses one set of mode rules (``transforms.to_8bit``: 16-bit scaled to 8 bits,
palettes expanded, CMYK to RGB) and applies EXIF rotation, so a picture gives the same
pixels whichever command opens it. With ``size`` the picture is also fitted to the training
size (centre square, antialiased bicubic, JPEG draft decoding: ``transforms.image_to_tensor``).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from pixelsmith.data.transforms import image_to_tensor, to_8bit
from pixelsmith.errors import PixelsmithError, UnreadableImage

ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
MAX_PIXELS_ENV = "PIXELSMITH_MAX_PIXELS"  # or `pixelsmith --max-pixels N`; 0 = no limit
MAX_PIXELS = 200_000_000  # about 14,000 x 14,000: larger files are refused before decoding
# our limit replaces Pillow's (a bare warning at 89 megapixels, an error at twice that), so a
# file is refused with one message that says how to raise the limit
Image.MAX_IMAGE_PIXELS = None


def max_pixels() -> int | None:
    """The largest image read, in pixels (None: no limit)."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return MAX_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        raise PixelsmithError(f"{MAX_PIXELS_ENV}={raw!r} is not a number of pixels") from None
    return value if value > 0 else None


def _unreadable(path: Path, reason: str) -> UnreadableImage:
    err = UnreadableImage(f"cannot read image {path} ({reason})")
    err.reason = reason  # the folder loaders list the reasons of the files they skipped
    return err


def _check_file(path: Path) -> None:
    """A regular file, or UnreadableImage saying what else it is: opening a FIFO would wait
    forever for a writer, a dangling link or a link loop is no picture."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if path.is_symlink():
            raise _unreadable(path, "a symlink to a missing file") from None
        raise PixelsmithError(f"input image {path} does not exist") from None
    except OSError as e:  # a symlink loop (ELOOP), no permission
        raise _unreadable(path, e.strerror or type(e).__name__) from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "not a regular file")
        raise _unreadable(path, kind)


def _check_pixels(img: Image.Image, path: Path) -> None:
    """Refuse a decompression bomb before decoding: the header's size against the limit."""
    limit = max_pixels()
    w, h = img.size
    if limit is not None and w * h > limit:
        raise _unreadable(path, f"{w} x {h} = {w * h / 1e6:.0f} megapixels, over the limit of "
                                f"{limit / 1e6:g} against decompression bombs; raise it with "
                                f"pixelsmith --max-pixels {w * h} ... or {MAX_PIXELS_ENV}={w * h}")
    if img.mode == "F":  # float TIFFs: an inf or NaN pixel would turn the scaling black
        a = np.asarray(img)
        if not np.isfinite(a).all():
            raise _unreadable(path, "it holds NaN or infinite pixel values")


@dataclass
class ImageFile:
    path: Path
    pixels: torch.Tensor  # uint8 (C, H, W), C = 1 (gray) or 3 (colour)
    alpha: np.ndarray | None = None  # uint8 (H, W) transparency, with keep_alpha only


def read_image(path: str | Path, channels: int | None = None, *, size: int | None = None,
               keep_alpha: bool = False, equal_rgb_is_gray: bool = False) -> ImageFile:
    """One image file as uint8 (C, H, W), at its own size or, with ``size`` (and
    ``channels``), as the training loaders see it: (channels, size, size).

    ``channels``: None keeps the file's own (1 for gray, 3 for colour); 1 turns colour into
    gray with Pillow's BT.601 luma; 3 repeats gray into RGB. ``keep_alpha``: transparency is
    returned aside in ``alpha`` and the colour left as it is; otherwise it is composited onto
    white, as for training data. ``equal_rgb_is_gray``: an RGB file whose three channels are
    equal is read as gray (channels None only). A file that cannot be decoded raises
    ``UnreadableImage`` naming it; a missing one a ``PixelsmithError``."""
    path = Path(path)
    if channels not in (None, 1, 3):
        raise PixelsmithError(f"channels must be None, 1 or 3, got {channels}")
    if size is not None and (channels is None or keep_alpha):
        raise PixelsmithError("read_image: size needs channels and no keep_alpha")
    _check_file(path)
    try:
        with Image.open(path) as img:
            _check_pixels(img, path)
            if size is not None:
                return ImageFile(path, image_to_tensor(img, size, channels))
            img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF only
            alpha = None
            if keep_alpha:
                if img.mode == "P" and "transparency" in img.info:
                    img = img.convert("RGBA")
                if img.mode in ALPHA_MODES:
                    alpha = np.array(img.getchannel("A"))
                    img = img.convert("L" if img.mode in ("LA", "La") else "RGB")
            gray_source = img.mode in ("L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "1")
            img = to_8bit(img)
            if channels is None and gray_source and img.mode == "RGB":
                img = img.convert("L")  # gray + alpha composited onto white stays gray
            if channels == 1 and img.mode == "RGB":
                img = img.convert("L")
            elif channels == 3 and img.mode == "L":
                img = img.convert("RGB")
            a = np.array(img)  # a copy: Pillow's buffer is read-only
    except UnreadableImage:
        raise
    except Exception as e:  # any decoder failure (truncated, not an image, bomb)
        reason = f"{type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
        raise _unreadable(path, reason) from None
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
    pixels = torch.from_numpy(np.ascontiguousarray(a))
    if (equal_rgb_is_gray and channels is None and pixels.shape[0] == 3
            and (pixels[0] == pixels[1]).all() and (pixels[1] == pixels[2]).all()):
        pixels = pixels[:1]  # a gray picture stored as RGB
    return ImageFile(path, pixels, alpha)


def save_png(pixels: torch.Tensor, path: str | Path, alpha: np.ndarray | None = None, *,
             compress_level: int = 6) -> Path:
    """Write uint8 (C, H, W), C = 1 or 3, as a PNG (folders made as needed). ``alpha``
    (uint8 (h, w)) becomes the transparency, resized bicubically when the picture grew
    (super-resolution). ``compress_level`` 1 writes large folders of samples faster."""
    path = Path(path)
    a = pixels.detach().cpu().permute(1, 2, 0).numpy()
    pic = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
    if alpha is not None:
        mask = Image.fromarray(alpha)
        if mask.size != pic.size:
            mask = mask.resize(pic.size, Image.Resampling.BICUBIC)
        pic.putalpha(mask)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise PixelsmithError(f"cannot write {path}: a folder of that name is in the way")
    # written beside and renamed: a kill or Ctrl-C never leaves a half-written PNG behind
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pic.save(tmp, format="PNG", compress_level=compress_level)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def side_by_side(panels: list[torch.Tensor], gap: int = 4, fill: float = 255) -> torch.Tensor:
    """Panels of one height, (..., C, H, W_i), left to right with ``gap`` columns of
    ``fill`` between them (255 for uint8 white, 1.0 for [0, 1], 1.0 for [-1, 1])."""
    first = panels[0]
    white = torch.full((*first.shape[:-1], gap), fill, dtype=first.dtype, device=first.device)
    parts = []
    for p in panels:
        parts += [p, white]
    return torch.cat(parts[:-1], dim=-1)
