"""Inpainting masks: which pixels of an image are missing.

Convention (DESIGN.md): ``mask`` is float (N, 1, H, W) with 1 = known pixel, 0 = missing.
Mask *files* follow the usual painting-program convention instead: white = missing.

``make_mask(name, **params)`` returns a maker ``(num, h, w, generator=None, device=None)``.
``coverage`` is the fraction of pixels that are missing. Random kinds draw from
``generator`` (a torch.Generator, which also fixes the device) or, when it is None, from
torch's global RNG on ``device`` -- so masks drawn during training are restored exactly
with the RNG state a checkpoint saves.

Random boxes and free-form strokes are built shape by shape, all images of the batch at
once: a shape is accepted for an image only if the image stays within ``coverage + tol``,
and shapes shrink as the remaining area gets small, so every image ends with its
coverage in [coverage, coverage + tol] (checked in tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.registry import MASKS

MAX_SHAPES = 400  # safety stop for the accept/reject loops (never reached in practice)


def _check_coverage(coverage: float, kind: str) -> None:
    if not 0.0 < coverage < 1.0:
        raise PixelsmithError(f"mask '{kind}': coverage must be in (0, 1), got {coverage}")


def _rand(n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=device)


def _device(generator: torch.Generator | None, device) -> torch.device:
    if generator is not None:
        return generator.device
    return torch.device(device) if device is not None else torch.device("cpu")


class MaskMaker:
    """Base: subclasses fill missing pixels; ``__call__`` returns the 1 = known mask."""

    def missing(self, num: int, h: int, w: int, generator, device) -> torch.Tensor:
        raise NotImplementedError  # bool (N, H, W), True = missing

    def __call__(self, num: int, h: int, w: int, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:
        dev = _device(generator, device)
        hole = self.missing(num, h, w, generator, dev)
        return (~hole).to(torch.float32)[:, None]  # (N, 1, H, W), 1 = known


def _accept(hole: torch.Tensor, shape: torch.Tensor, coverage: float, tol: float
            ) -> torch.Tensor:
    """Add ``shape`` to the images that are still short of coverage and stay within tol."""
    hw = hole.shape[1] * hole.shape[2]
    now = hole.flatten(1).float().sum(1) / hw  # (N,)
    new = (hole | shape).flatten(1).float().sum(1) / hw
    ok = (now < coverage) & (new <= coverage + tol)
    return torch.where(ok[:, None, None], hole | shape, hole)


def _remaining(hole: torch.Tensor, coverage: float) -> torch.Tensor:
    hw = hole.shape[1] * hole.shape[2]
    return (coverage - hole.flatten(1).float().sum(1) / hw).clamp_min(0)  # (N,)


@dataclass
class CenterBoxParams:
    coverage: float = 0.25  # fraction missing: a centred square of side sqrt(coverage) * size


@MASKS.register("center-box", config=CenterBoxParams,
                help="a centred box of side sqrt(coverage) x size (the classic benchmark)")
class CenterBox(MaskMaker):
    def __init__(self, coverage: float = 0.25):
        _check_coverage(coverage, "center-box")
        self.coverage = coverage

    def missing(self, num, h, w, generator, device):
        s = math.sqrt(self.coverage)
        bh, bw = max(1, round(s * h)), max(1, round(s * w))
        top, left = (h - bh) // 2, (w - bw) // 2
        hole = torch.zeros(num, h, w, dtype=torch.bool, device=device)
        hole[:, top : top + bh, left : left + bw] = True
        return hole


@dataclass
class RandomBoxesParams:
    coverage: float = 0.25  # fraction missing, reached within tol
    tol: float = 0.03  # coverage ends in [coverage, coverage + tol]
    max_side: float = 0.5  # largest box side as a fraction of the image side


@MASKS.register("random-boxes", config=RandomBoxesParams,
                help="random rectangles until the coverage is reached")
class RandomBoxes(MaskMaker):
    def __init__(self, coverage: float = 0.25, tol: float = 0.03, max_side: float = 0.5):
        _check_coverage(coverage, "random-boxes")
        if not 0 < tol < 1 or not 0 < max_side <= 1:
            raise PixelsmithError("mask 'random-boxes': tol and max_side must be in (0, 1]")
        self.coverage, self.tol, self.max_side = coverage, tol, max_side

    def missing(self, num, h, w, generator, device):
        hole = torch.zeros(num, h, w, dtype=torch.bool, device=device)
        rows = torch.arange(h, device=device)
        cols = torch.arange(w, device=device)
        for i in range(MAX_SHAPES):
            rem = _remaining(hole, self.coverage)
            if i % 8 == 0 and not bool((rem > 0).any()):  # a host sync only now and then
                break
            # largest box that cannot overshoot: area <= remaining + tol
            limit = ((rem + self.tol).sqrt()).clamp(max=self.max_side)  # (N,) side fraction
            fh = (0.3 + 0.7 * _rand(num, generator, device)) * limit
            fw = (0.3 + 0.7 * _rand(num, generator, device)) * limit
            bh = (fh * h).floor().clamp(1, h).long()
            bw = (fw * w).floor().clamp(1, w).long()
            top = (_rand(num, generator, device) * (h - bh + 1)).floor().long()
            left = (_rand(num, generator, device) * (w - bw + 1)).floor().long()
            in_r = (rows[None] >= top[:, None]) & (rows[None] < (top + bh)[:, None])  # (N, H)
            in_c = (cols[None] >= left[:, None]) & (cols[None] < (left + bw)[:, None])  # (N, W)
            hole = _accept(hole, in_r[:, :, None] & in_c[:, None, :], self.coverage, self.tol)
        return hole


@dataclass
class FreeFormParams:
    coverage: float = 0.25  # fraction missing, reached within tol
    tol: float = 0.03  # coverage ends in [coverage, coverage + tol]
    min_width: float = 0.06  # brush width range, as fractions of the image side
    max_width: float = 0.16
    max_step: float = 0.25  # longest segment of a stroke, fraction of the image side
    vertices: int = 6  # segments per stroke


@MASKS.register("free-form", config=FreeFormParams,
                help="brush strokes: random walks with varying width (DeepFill v2 style)")
class FreeForm(MaskMaker):
    def __init__(self, coverage: float = 0.25, tol: float = 0.03, min_width: float = 0.06,
                 max_width: float = 0.16, max_step: float = 0.25, vertices: int = 6):
        _check_coverage(coverage, "free-form")
        if not 0 < min_width <= max_width <= 1 or not 0 < max_step <= 1 or vertices < 1:
            raise PixelsmithError("mask 'free-form': need 0 < min_width <= max_width <= 1, "
                                  "0 < max_step <= 1 and vertices >= 1")
        self.coverage, self.tol = coverage, tol
        self.min_width, self.max_width = min_width, max_width
        self.max_step, self.vertices = max_step, vertices

    def missing(self, num, h, w, generator, device):
        hole = torch.zeros(num, h, w, dtype=torch.bool, device=device)
        size = float(max(h, w))
        yy = torch.arange(h, device=device, dtype=torch.float32)[None, :, None]  # (1, H, 1)
        xx = torch.arange(w, device=device, dtype=torch.float32)[None, None, :]  # (1, 1, W)
        segments = 0
        while segments < MAX_SHAPES:
            if not bool((_remaining(hole, self.coverage) > 0).any()):
                break
            # a new stroke: start point, brush width and heading per image
            py = _rand(num, generator, device) * (h - 1)
            px = _rand(num, generator, device) * (w - 1)
            u = _rand(num, generator, device)
            width = (self.min_width + u * (self.max_width - self.min_width)) * size
            heading = _rand(num, generator, device) * 2 * math.pi
            for _ in range(self.vertices):
                rem = _remaining(hole, self.coverage)
                # shrink brush and step where little area is left, so a segment (about
                # step x width) cannot jump far past the target
                shrink = ((rem + self.tol) / (self.max_step * self.max_width)).sqrt().clamp(max=1)
                bw = (width * shrink).clamp_min(1.0)
                heading = heading + (_rand(num, generator, device) - 0.5) * (2 * math.pi / 3)
                step = (0.3 + 0.7 * _rand(num, generator, device)) * self.max_step * size * shrink
                qy = (py + step * torch.sin(heading)).clamp(0, h - 1)
                qx = (px + step * torch.cos(heading)).clamp(0, w - 1)
                seg = _segment(yy, xx, py, px, qy, qx) <= (bw / 2)[:, None, None]  # (N, H, W)
                hole = _accept(hole, seg, self.coverage, self.tol)
                py, px = qy, qx
                segments += 1
        return hole


def _segment(yy, xx, py, px, qy, qx) -> torch.Tensor:
    """Distance of every pixel centre to the segment p-q, per image: (N, H, W)."""
    py, px, qy, qx = (t[:, None, None] for t in (py, px, qy, qx))  # (N, 1, 1)
    dy, dx = qy - py, qx - px
    length2 = (dy * dy + dx * dx).clamp_min(1e-6)
    t = (((yy - py) * dy + (xx - px) * dx) / length2).clamp(0, 1)
    return torch.sqrt((yy - py - t * dy) ** 2 + (xx - px - t * dx) ** 2)


def load_mask_file(path: str | Path, h: int, w: int) -> torch.Tensor:
    """A mask picture -> float (1, 1, H, W), 1 = known. White (>= 128 gray) = missing.
    The file must be exactly h x w: a resized mask would silently move the hole."""
    from pixelsmith.data.image_files import read_image

    path = Path(path)
    if not path.is_file():
        raise PixelsmithError(f"mask file {path} does not exist")
    try:  # read as the image it goes with is (EXIF rotation too), so the hole stays put
        gray = read_image(path, 1).pixels[0]  # (H, W) uint8
    except UnreadableImage as e:
        raise PixelsmithError(f"cannot read mask file {path} ({e.reason})") from None
    if gray.shape != (h, w):
        raise PixelsmithError(f"mask file {path} is {gray.shape[1]}x{gray.shape[0]} (WxH) but "
                              f"the image is {w}x{h}; the mask must have the image's size")
    return (gray < 128).to(torch.float32)[None, None]


@dataclass
class FileParams:
    path: str = ""  # a mask picture (white = missing) of the training image size


@MASKS.register("file", config=FileParams,
                help="one mask picture for every image (white = missing)")
class FileMask(MaskMaker):
    def __init__(self, path: str = ""):
        if not path:
            raise PixelsmithError("mask 'file' needs a path to a mask picture (white = missing)")
        self.path = path

    def __call__(self, num, h, w, generator=None, device=None):
        m = load_mask_file(self.path, h, w).to(_device(generator, device))
        return m.expand(num, 1, h, w).clone()


def make_mask(name: str, **params) -> MaskMaker:
    """The registered mask maker ``name`` with its parameters (an unknown one is an error)."""
    entry = MASKS.entry(name)
    allowed = {f.name for f in fields(entry.config)} if entry.config else set()
    bad = sorted(set(params) - allowed)
    if bad:
        raise PixelsmithError(f"mask '{name}' has no parameter '{bad[0]}'; it takes: "
                              f"{', '.join(sorted(allowed)) or 'nothing'}")
    return entry.obj(**params)
