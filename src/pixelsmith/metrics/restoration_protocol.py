"""How the restoration papers score their tables, so our numbers sit beside theirs.

- Images are compared on the [0, 255] scale (data range 255), one score per image, averaged
  over the set (the mean of per-image PSNRs, not the PSNR of the mean MSE).
- Super-resolution is scored on the luma channel Y of ITU-R BT.601 as MATLAB's ``rgb2ycbcr``
  computes it (studio swing, Y in [16, 235]), with a border of ``scale`` pixels shaved off
  (SRCNN, EDSR and their evaluation scripts). A gray image is its own Y, on [0, 255]: the
  MATLAB scripts only call rgb2ycbcr on colour images (Set14's ``bridge`` is gray).
- The standard test sets (Set12, BSD68, CBSD68, Kodak24, Set5, Set14) are read at their
  native size and channel count, as uint8.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from pixelsmith.data.image_files import read_image
from pixelsmith.data.transforms import unit_to_uint8
from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.metrics.paired import psnr, ssim

# name -> channels the set is scored with (gray sets for gray models; colour otherwise)
TEST_SETS = {"Set12": 1, "BSD68": 1, "CBSD68": 3, "Kodak24": 3, "Set5": 3, "Set14": 3}
TEST_SETS_DIR = Path("restoration") / "testsets"  # inside the shared data root

# MATLAB rgb2ycbcr, Y row, for RGB in [0, 1]: Y = 16 + 65.481 R + 128.553 G + 24.966 B
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_SSIM_RADIUS = 5  # the 11 x 11 Gaussian window of metrics.paired.ssim


def rgb_to_y(x01: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) BT.601 luma on [0, 255] (16..235), as MATLAB.

    A 1-channel input is returned as itself times 255 (gray images are their own Y)."""
    if x01.dim() != 4 or x01.shape[1] not in (1, 3):
        raise PixelsmithError(f"rgb_to_y needs an (N, 1 or 3, H, W) tensor, got {tuple(x01.shape)}")
    x = x01.double()
    if x.shape[1] == 1:
        return x * 255
    w = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return 16 + (x * w).sum(1, keepdim=True)


def shave(x: torch.Tensor, border: int) -> torch.Tensor:
    """``x`` without ``border`` pixels on each side of its last two axes."""
    if border < 0:
        raise PixelsmithError(f"shave border must be >= 0, got {border}")
    if border == 0:
        return x
    h, w = x.shape[-2:]
    if 2 * border >= min(h, w):
        raise PixelsmithError(f"cannot shave {border} px off a {h}x{w} image")
    return x[..., border:h - border, border:w - border]


def _to_unit_pm1(x255: torch.Tensor) -> torch.Tensor:
    return x255.double() / 127.5 - 1  # [0, 255] -> [-1, 1], the paired metrics' input


def psnr255(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB, (N,), of (N, C, H, W) float images on [0, 255] (peak 255).

    Inputs are not clipped or rounded here: callers decide (the bench rounds restored images
    to 8 bits, as saving a PNG would)."""
    return psnr(_to_unit_pm1(x), _to_unit_pm1(ref))


def ssim255(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM, (N,), on [0, 255] (data range 255; Gaussian window 11, sigma 1.5), as
    Wang et al.'s reference code and scikit-image: the mean of the SSIM map over the positions
    where the whole window lies inside the image. The project's ``ssim`` averages the map over
    the reflection-padded border too, so its border is masked out here."""
    h, w = x.shape[-2:]
    r = _SSIM_RADIUS
    if min(h, w) <= 2 * r:
        raise PixelsmithError(f"SSIM needs images larger than {2 * r}x{2 * r}, got {h}x{w}")
    valid = torch.zeros(1, 1, h, w, dtype=torch.float64, device=x.device)
    valid[..., r:h - r, r:w - r] = 1
    return ssim(_to_unit_pm1(x), _to_unit_pm1(ref), mask=valid)


def quantise(x01: torch.Tensor) -> torch.Tensor:
    """A restored [0, 1] image as the 8-bit file it would be saved as, on [0, 255] (double)."""
    return unit_to_uint8(x01.double()).double()


def y8(x01: torch.Tensor, *, luma: bool = False) -> torch.Tensor:
    """The 8-bit Y channel, on [0, 255] (float), of an image saved as 8 bits, as MATLAB's
    ``rgb2ycbcr`` returns it for a uint8 image: the image is rounded to 8 bits, Y computed and
    rounded again (rgb2ycbcr's output is uint8). A gray image is its own Y.

    ``luma=True``: ``x01`` (N, 1, H, W) is a full-range BT.601 luma on [0, 1] (what a gray
    model trained on Pillow's "L" outputs for a colour image); it maps to Y = 16 + 219 luma,
    rounded once (the SRCNN way: the network's output is the Y channel)."""
    if luma:
        return (16 + 219 * x01.double()).round().clamp(0, 255)
    return rgb_to_y(quantise(x01) / 255).round()


def sr_scores(sr01: torch.Tensor, hr01: torch.Tensor, scale: int, *, sr_luma: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(PSNR, SSIM), each (N,), of super-resolved images against the ground truth, the SR
    papers' way: 8-bit outputs, 8-bit Y channel on both sides, ``scale`` pixels shaved.
    ``sr_luma``: ``sr01`` is a full-range luma (see ``y8``)."""
    sr_y = shave(y8(sr01, luma=sr_luma), scale)
    hr_y = shave(y8(hr01), scale)
    return psnr255(sr_y, hr_y), ssim255(sr_y, hr_y)


@dataclass(frozen=True)
class TestImage:
    __test__ = False  # not a pytest test class despite the name
    name: str  # file stem, e.g. "01" or "baby_GT"
    image: torch.Tensor  # uint8 (C, H, W) at native size


def testset_dir(name: str, root: str | os.PathLike) -> Path:
    """The folder of set ``name``: ``root/restoration/testsets/name`` (root = the shared
    data folder), or ``root/name`` when root already is the testsets folder."""
    if name not in TEST_SETS:
        raise PixelsmithError(f"unknown test set '{name}'; choose one of: {', '.join(TEST_SETS)}")
    root = Path(root).expanduser()
    for cand in (root / TEST_SETS_DIR / name, root / name):
        if cand.is_dir():
            return cand
    raise PixelsmithError(f"test set folder {root / TEST_SETS_DIR / name} does not exist; "
                          f"point the data root at the folder holding restoration/testsets/")



def _decode(path: Path, channels: int | None) -> torch.Tensor:
    try:
        return read_image(path, channels).pixels
    except UnreadableImage as e:  # a damaged file in a benchmark set is an error, never a skip
        raise PixelsmithError(f"cannot read test image {path}: {e.reason}") from None


def load_test_set(name: str, root: str | os.PathLike, channels: int | None = None
                  ) -> list[TestImage]:
    """The images of a standard test set, sorted by file name, uint8 (C, H, W), native size.

    ``channels`` None keeps each file's own channels (Set14's ``bridge`` stays gray so it is
    scored as gray, the papers' way); 1 converts colour to gray (Pillow's BT.601 luma); 3
    repeats gray into RGB."""
    if channels not in (None, 1, 3):
        raise PixelsmithError(f"channels must be None, 1 or 3, got {channels}")
    folder = testset_dir(name, root)
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in (".png", ".bmp", ".tif", ".tiff", ".jpg")
                   and not p.name.startswith("."))
    if not files:
        raise PixelsmithError(f"test set folder {folder} holds no images")
    return [TestImage(p.stem, _decode(p, channels)) for p in files]


def photo_tiles(name: str, root: str | os.PathLike, crop: int) -> torch.Tensor:
    """uint8 (N, 3, crop, crop): every non-overlapping ``crop`` x ``crop`` tile of a test
    set's pictures in colour, picture by picture, row by row (the inpainting benchmark's
    photographs and the packaged inpainter's check images)."""
    tiles = []
    for t in load_test_set(name, root, channels=3):
        _, h, w = t.image.shape
        tiles += [t.image[:, top : top + crop, left : left + crop]
                  for top in range(0, h - crop + 1, crop)
                  for left in range(0, w - crop + 1, crop)]
    if not tiles:
        raise PixelsmithError(f"a {crop} px tile is larger than every picture of {name}")
    return torch.stack(tiles)
