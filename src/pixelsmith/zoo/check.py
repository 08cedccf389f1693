"""The manifest's ``check``: a few test images a packaged model must keep scoring, by the
benchmark's protocol (``restore/benchmark.py``): the same noise (one generator seeded with
``seed``, images in file order, so the first N images get the bench's own noise), whole
images, outputs rounded to 8 bits, PSNR on [0, 255]; SR on the 8-bit Y channel with
``scale`` pixels shaved; inpainting: the first ``crop`` px tiles of a photo set (as
``bench/inpainting.py --photos`` cuts them), one seeded mask generator, PSNR of the hole.
Wrong or damaged weights miss the figures by far more than the 0.05 dB the test allows.

A generator has no test images to score: its check is the mean pixel value (0-255) of each
of a few seeded samples (``generator_check_values``), drawn with the sampling settings the
package records. Wrong weights draw other pictures, which move those means by whole units
where float noise moves them by hundredths; its FID is in the bench table instead."""

from __future__ import annotations

import torch

from pixelsmith.data.degradations import crop_to_multiple, make_degradation
from pixelsmith.data.masks import make_mask
from pixelsmith.data.transforms import uint8_to_unit, unit_to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.paired import psnr
from pixelsmith.metrics.restoration_protocol import (
    load_test_set,
    photo_tiles,
    psnr255,
    quantise,
    sr_scores,
)
from pixelsmith.restore.benchmark import sr_with


def inpaint_check_scores(model, spec: dict, root) -> list[float]:
    """Hole PSNR (dB) per tile of ``spec`` = {set, images, crop, mask, coverage, seed}: the
    set's first tiles (bench/inpainting.py --photos's), holes mid-gray, 8-bit outputs, the
    hole only. The masks are the check's own (one generator for these few tiles), so the
    figures are comparable with themselves, not with the bench table's rows."""
    from pixelsmith.restore.inpainting import inpaint

    x01 = uint8_to_unit(photo_tiles(spec["set"], root, int(spec["crop"]))[: int(spec["images"])])
    g = torch.Generator().manual_seed(int(spec.get("seed", 0)))
    n, _, h, w = x01.shape
    mask = make_mask(spec["mask"], coverage=float(spec["coverage"]))(n, h, w, generator=g)
    y01 = torch.where(mask.bool(), x01, torch.full_like(x01, 0.5))
    out01 = uint8_to_unit(unit_to_uint8(inpaint(model, y01, mask)))  # as written to a file
    return [round(v, 3) for v in psnr(out01 * 2 - 1, x01 * 2 - 1, 1 - mask).tolist()]


def check_scores(restorer, spec: dict, root) -> list[float]:
    """PSNR (dB) per image of ``spec`` = {set, images, seed, sigma | scale | mask}."""
    if "mask" in spec:
        return inpaint_check_scores(restorer, spec, root)
    images = load_test_set(spec["set"], root)[: int(spec["images"])]
    g = torch.Generator().manual_seed(int(spec.get("seed", 0)))
    out = []
    for t in images:
        x = t.image[None].to(torch.float32) / 255  # (1, C, H, W) in [0, 1]
        if "sigma" in spec:
            y, known = make_degradation("gaussian-noise", sigma=spec["sigma"])(x, generator=g)
            restored = quantise(restorer(y, sigma=known["sigma"]).cpu())
            out.append(psnr255(restored, x.double() * 255).item())
        elif "scale" in spec:
            s = int(spec["scale"])
            hr = crop_to_multiple(x, s)
            lr, _ = make_degradation("bicubic-down", scale=s)(hr, generator=g)
            # the bench's own path: a gray model on a colour set super-resolves the luma
            sr, is_luma = sr_with(restorer, lr)  # whole images
            p, _ = sr_scores(sr, hr, s, sr_luma=is_luma)
            out.append(p.item())
        else:
            raise PixelsmithError(f"check spec {spec} names neither sigma nor scale")
    return [round(v, 3) for v in out]


def generator_check_values(model, spec: dict) -> list[float]:
    """Mean 8-bit pixel of each of ``spec`` = {images, seed} samples of a generator (a
    conditional one draws classes 0, 1, 2, ... in turn), rounded to 3 decimals."""
    from pixelsmith.generate import generate

    n, k = int(spec["images"]), model.objective.sample_classes
    labels = torch.arange(n) % k if k else None
    x = generate(model, n, seed=int(spec.get("seed", 0)), labels=labels)  # (n, C, H, W)
    return [round(v, 3) for v in unit_to_uint8((x + 1) / 2).float().mean((1, 2, 3)).tolist()]
