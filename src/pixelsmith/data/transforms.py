"""Turn decoded pictures into the uint8 (C, H, W) tensors every loader returns.

Two paths share one convention so that a picture read from a file and the same picture
read from a tensor batch end up with the same pixels:
- ``image_to_tensor``: one PIL image of any mode -> (C, S, S);
- ``resize_batch``: a uint8 (N, C, h, w) batch (MNIST, digits, CIFAR arrays) -> (N, C', S, S).
Both resize the short side to S with antialiasing, crop the centre square, and convert
RGB -> gray with Pillow's ITU-R 601-2 luma, in integer arithmetic.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from pixelsmith.errors import PixelsmithError

# Pillow's own "L" conversion, ITU-R 601-2 luma in 16-bit fixed point:
# (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
_LUMA = (19595, 38470, 7471)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], the way images leave the models."""
    return images.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], the way images enter the models."""
    return images.to(torch.float32, copy=True).div_(127.5).sub_(1.0)  # a copy: safe in place


def unit_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats -> uint8 [0, 255], rounded, clipped: a restored image as its 8-bit file.
    Computed in the input's own float type (double stays double)."""
    return images.detach().clamp(0, 1).mul(255).round().to(torch.uint8)


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [0, 1], the restorers' and degradations' scale."""
    return images.to(torch.float32).div(255)


def check_shape_args(img_size: int, img_channels: int) -> None:
    """Fail with a config-level message instead of a tensor error deep inside a resize."""
    if img_channels not in (1, 3):
        raise PixelsmithError(f"data.img_channels must be 1 (gray) or 3 (RGB), got {img_channels}")
    if img_size < 1:
        raise PixelsmithError(f"data.img_size must be a positive number of pixels, got {img_size}")


def _high_depth_to_uint8(img: Image.Image) -> Image.Image:
    """16-bit ("I;16*", "I") and float ("F") gray -> 8-bit "L" by scaling, never by clipping."""
    a = np.asarray(img)
    if img.mode == "F":
        a = a.astype(np.float64)
        # float images are usually 0..1; anything larger is taken as already 0..255
        scale = 255.0 if a.size and np.nanmax(a) <= 1.0 else 1.0
        out = np.clip(np.nan_to_num(a * scale), 0, 255).round()
    else:
        # "I" is how 16-bit PNG/TIFF decode in older Pillow too: treat it as 0..65535.
        a = np.clip(a.astype(np.int64), 0, 65535)
        out = (a * 255 + 32767) // 65535  # rounded: 65535 -> 255, 32768 -> 128, 257*k -> k
    return Image.fromarray(out.astype(np.uint8))


def to_8bit(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> "L" or "RGB"; transparency is composited onto white."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_uint8(img)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img).convert("RGB")
    if img.mode not in ("L", "RGB"):  # CMYK, YCbCr, LAB, HSV, RGBX ...
        img = img.convert("RGB")
    return img


def image_to_tensor(img: Image.Image, img_size: int, img_channels: int) -> torch.Tensor:
    """A PIL image of any mode and size -> uint8 (img_channels, img_size, img_size)."""
    if img.format == "JPEG":
        # let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is far larger than needed
        img.draft(None, (img_size, img_size))
    img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF only
    img = to_8bit(img)
    w, h = img.size
    if (w, h) != (img_size, img_size):
        m = min(w, h)
        box = ((w - m) / 2, (h - m) / 2, (w + m) / 2, (h + m) / 2)  # centre square, in source px
        # Pillow's resize widens its kernel when shrinking, i.e. it antialiases
        img = img.resize((img_size, img_size), Image.Resampling.BICUBIC, box=box)
    if img_channels == 1 and img.mode == "RGB":
        img = img.convert("L")
    elif img_channels == 3 and img.mode == "L":
        img = img.convert("RGB")
    a = np.array(img)  # a copy: Pillow's buffer is read-only and torch warns about that
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
    return torch.from_numpy(np.ascontiguousarray(a))


def rgb_to_gray(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> (N, 1, H, W), bit-identical to Pillow's convert("L")."""
    r, g, b = (images[:, i : i + 1].to(torch.int32) for i in range(3))
    y = (r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2] + 0x8000) >> 16
    return y.to(torch.uint8)


def _resize_chunk(x: torch.Tensor, img_size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    m = min(h, w)
    top, left = (h - m) // 2, (w - m) // 2
    x = x[..., top : top + m, left : left + m]  # centre square, then one resize
    if m == img_size:
        return x
    y = F.interpolate(x.float(), size=(img_size, img_size), mode="bicubic", antialias=True,
                      align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8)  # bicubic overshoots at edges: clamp


def resize_batch(images: torch.Tensor, img_size: int, img_channels: int,
                 chunk: int = 4096) -> torch.Tensor:
    """uint8 (N, C, h, w) with C in {1, 3} -> uint8 (N, img_channels, img_size, img_size).

    Gray -> RGB repeats the channel (after resizing: a third of the work); RGB -> gray uses
    601 luma (before resizing). Works in chunks so 60,000 images never need a float copy.
    """
    check_shape_args(img_size, img_channels)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 (N, 1|3, H, W), got {images.dtype} {tuple(images.shape)}")
    if img_channels == 1 and images.shape[1] == 3:
        images = rgb_to_gray(images)
    h, w = images.shape[-2:]
    if (h, w) != (img_size, img_size):
        out = images.new_empty((len(images), images.shape[1], img_size, img_size))
        for i in range(0, len(images), chunk):
            out[i : i + chunk] = _resize_chunk(images[i : i + chunk], img_size)
        images = out
    if img_channels == 3 and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.contiguous()
