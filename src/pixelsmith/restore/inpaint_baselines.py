"""Classical inpainting baselines from OpenCV (opencv-python-headless), in BASELINES:

- ``telea``: fast marching from the hole's border inwards, each pixel a weighted average
  of its known neighbourhood (Telea 2004);
- ``navier-stokes``: propagates isophotes (lines of equal intensity) into the hole along
  a fluid-dynamics analogy (Bertalmio, Bertozzi & Sapiro 2001).

Both follow the shared baseline signature ``fn(y01, known, **params)``: y01 float
(N, C, H, W) in [0, 1], ``known["mask"]`` (N, 1, H, W) with 1 = known pixel. OpenCV works
on 8-bit images, so the input is quantised; the known pixels of y01 are pasted back
unchanged, so only the hole carries the method's (8-bit) values.
"""

from __future__ import annotations

import numpy as np
import torch

from pixelsmith.data.transforms import unit_to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import BASELINES


def _cv2():
    try:
        import cv2
    except ImportError:
        raise PixelsmithError("the telea/navier-stokes baselines need OpenCV: "
                              "pip install opencv-python-headless") from None
    return cv2


def _inpaint(y01: torch.Tensor, known: dict, radius: float, flag_name: str) -> torch.Tensor:
    cv2 = _cv2()
    if "mask" not in known:
        raise PixelsmithError("inpainting baselines need known['mask'] (1 = known pixel)")
    if y01.dim() != 4 or y01.shape[1] not in (1, 3):
        raise PixelsmithError(f"expected (N, 1|3, H, W) images, got {tuple(y01.shape)}")
    if radius <= 0:
        raise PixelsmithError(f"baseline radius must be > 0, got {radius}")
    mask = known["mask"].to(y01.device)
    pixels = unit_to_uint8(y01.float()).cpu()
    pixels = pixels.permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    holes = (mask.expand(y01.shape[0], 1, *y01.shape[2:]) < 0.5).cpu().numpy()[:, 0]
    out = []
    for img, hole in zip(pixels, holes):
        src = np.ascontiguousarray(img[..., 0] if img.shape[-1] == 1 else img)
        res = cv2.inpaint(src, hole.astype(np.uint8), float(radius), getattr(cv2, flag_name))
        out.append(res.reshape(img.shape))
    filled = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(y01.device)
    filled = filled.to(y01.dtype) / 255  # (N, C, H, W) in [0, 1]
    return torch.where(mask.to(torch.bool), y01, filled)


@BASELINES.register("telea", help="OpenCV fast-marching inpainting (Telea 2004); radius param")
def telea(y01: torch.Tensor, known: dict, radius: float = 3.0) -> torch.Tensor:
    return _inpaint(y01, known, radius, "INPAINT_TELEA")


@BASELINES.register("navier-stokes",
                    help="OpenCV Navier-Stokes inpainting (Bertalmio 2001); radius param")
def navier_stokes(y01: torch.Tensor, known: dict, radius: float = 3.0) -> torch.Tensor:
    return _inpaint(y01, known, radius, "INPAINT_NS")
