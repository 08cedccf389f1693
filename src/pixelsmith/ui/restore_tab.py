"""The Restore and Inpaint tabs: an uploaded picture through the same library calls as
``pixelsmith restore`` (``restore.files.restore_file`` with a packaged model or a run's
restorer; ``restore.inpainting.inpaint`` or an OpenCV baseline from ``BASELINES``).

Restore writes the result at full size (transparency kept) for download, and the input
shown at the output's size for the before/after slider. Inpaint takes the hole from the
layer a person painted on the picture in the page's image editor (any painted pixel is
missing), so the mask always has the picture's size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.restore.tiling import DEFAULT_OVERLAP, DEFAULT_TILE
from pixelsmith.ui.catalog import RUN_PREFIX, ModelCache, model_choices, packaged_names
from pixelsmith.ui.uploads import check_upload, out_dir, read_upload

RESTORE_TASKS = ("denoise", "sr", "deblur")
AUTO = "auto (the packaged model for the picture)"
OURS = "trained model (inpainter or diffusion)"
INPAINT_METHODS = (OURS, "telea", "navier-stokes")  # the last two: registered BASELINES


@dataclass
class Restored:
    before: Path  # the input at the output's size (bicubic for super-resolution)
    after: Path  # the result at full size, as `pixelsmith restore` writes it
    message: str  # what was done: model, noise level, sizes


@dataclass
class Inpainted:
    masked: Path  # the picture with its hole in mid-gray
    result: Path
    message: str


def picks_automatically(task: str) -> bool:
    """Whether ``AUTO`` is offered for ``task``: a packaged model does it (for sr the
    scale is the user's to choose, so no automatic pick)."""
    return task != "sr" and bool(packaged_names(task))


def _restorer_for(cache: ModelCache, root, model: str, task: str, channels: int):
    """(restorer, note): the chosen model, run per colour channel when it is a gray
    denoiser and the picture is colour (what `pixelsmith restore` does)."""
    if not model or model == AUTO:  # as `pixelsmith restore` without --checkpoint
        from pixelsmith.zoo import pick_model

        have = model_choices(root, task)
        if picks_automatically(task):
            model = pick_model(task, channels).name  # gray or colour, by the picture
        elif have:
            model = have[0]
        else:
            raise PixelsmithError(f"no model for {task}: none is packaged; train one "
                                  "(configs/restoration/*.yaml) into the --runs folder")
    r = cache.restorer(root, model)
    if not hasattr(r, "restore_image"):  # an inpainter chosen by name
        raise PixelsmithError(f"{model} is an inpainting model; use the Inpaint tab")
    if r.task != task:
        raise PixelsmithError(f"{model} is a {r.task} model, not a {task} one")
    if r.task == "denoise" and r.img_channels == 1 and channels == 3:
        return r.per_channel(), f"{model}, each colour channel on its own"
    return r, model


def restore_upload(cache: ModelCache, root: str | Path, upload, work_dir: str | Path, *,
                   task: str = "denoise", model: str | None = None,
                   sigma: float | None = None, max_upload_bytes: int | None = None,
                   tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                   on_tile: Callable[[int, int], None] | None = None) -> Restored:
    """Restore one uploaded picture with ``model`` (a ``catalog.model_choices`` entry; when
    empty or ``AUTO``, the packaged model for the picture's channels, as `pixelsmith
    restore` picks it), in tiles as ``pixelsmith restore --tile --overlap``;
    ``on_tile(done, total)`` hears of each tile of a picture larger than one."""
    from PIL import Image

    from pixelsmith.data.image_files import save_png
    from pixelsmith.data.transforms import uint8_to_unit, unit_to_uint8
    from pixelsmith.restore.files import restore_file, upscale_for_display

    if task not in RESTORE_TASKS:
        raise PixelsmithError(f"task must be one of {', '.join(RESTORE_TASKS)}, got {task!r}")
    sigma = None if sigma in (None, "") or float(sigma) < 0 else float(sigma)
    img = read_upload(upload, max_upload_bytes)
    r, used = _restorer_for(cache, root, model or "", task, img.pixels.shape[0])
    out = out_dir(work_dir, "restore-")
    res = restore_file(r, img.path, out, sigma=sigma, tile=tile, overlap=overlap,
                       on_tile=on_tile, image=img)
    after = res.written[0]
    h, w = img.pixels.shape[-2:]
    with Image.open(after) as pic:
        size = pic.size
    before01 = upscale_for_display(uint8_to_unit(img.pixels), (size[1], size[0]))
    before = save_png(unit_to_uint8(before01), out / "before" / f"{img.path.stem}.png")
    level = ""
    if r.last_sigma is not None:
        guessed = sigma is None and r.estimates_sigma
        level = f", noise level σ {r.last_sigma:.1f}" + (" (estimated)" if guessed else "")
    return Restored(before, after, f"{task} with {used}{level}: {w} x {h} → "
                                   f"{size[0]} x {size[1]} px")


def editor_picture(upload, work_dir: str | Path, max_upload_bytes: int | None = None) -> Path:
    """The uploaded picture decoded by the one reader (transparency onto white, as the
    inpainters see it), as a PNG for the image editor to paint on."""
    from pixelsmith.data.image_files import read_image, save_png

    path = check_upload(upload, max_upload_bytes)
    pixels = read_image(path, equal_rgb_is_gray=True).pixels
    return save_png(pixels, out_dir(work_dir, "editor-") / f"{path.stem}.png")


def mask_from_layers(layers, height: int, width: int) -> torch.Tensor:
    """(1, 1, H, W) mask, 1 = known pixel, from the editor's painted layers (RGBA arrays,
    or RGB(A) image paths): every pixel painted on any layer is missing."""
    from PIL import Image

    hole = np.zeros((height, width), bool)
    for layer in layers or []:
        if layer is None:
            continue
        pic = Image.open(layer) if isinstance(layer, (str, Path)) else Image.fromarray(
            np.asarray(layer))
        alpha = pic.getchannel("A") if "A" in pic.getbands() else pic.convert("L")
        if alpha.size != (width, height):  # an editor canvas of another size: fit it
            alpha = alpha.resize((width, height), Image.Resampling.NEAREST)
        hole |= np.asarray(alpha) > 0
    if not hole.any():
        raise PixelsmithError("paint the hole on the picture first (the brush marks the "
                              "pixels to fill)")
    return torch.from_numpy(~hole).float()[None, None]


def inpaint_upload(cache: ModelCache, root: str | Path, upload, layers, work_dir: str | Path,
                   *, method: str = "telea", model: str | None = None,
                   max_upload_bytes: int | None = None) -> Inpainted:
    """Fill the painted hole of an uploaded picture with ``method``: ``OURS`` (``model``, a
    ``catalog.model_choices(root, "inpaint")`` entry, an inpainting or a diffusion run; the
    first when empty), ``telea`` or ``navier-stokes``."""
    from pixelsmith.data.image_files import read_image, save_png
    from pixelsmith.data.transforms import rgb_to_gray, uint8_to_unit, unit_to_uint8
    from pixelsmith.registry import BASELINES
    from pixelsmith.restore.inpainting import fit_to_inpainter, inpaint

    if method not in INPAINT_METHODS:
        raise PixelsmithError(f"method must be one of {', '.join(INPAINT_METHODS)}, "
                              f"got {method!r}")
    path = check_upload(upload, max_upload_bytes)
    if method == OURS:
        choices = model_choices(root, "inpaint")
        if not model and not choices:
            raise PixelsmithError("no inpainting model: none is packaged; train one "
                                  "(configs/inpainting/*.yaml) into the --runs folder, or "
                                  "choose telea or navier-stokes")
        model = model or choices[0]
        net = cache.restorer(root, model)
        if hasattr(net, "restore_image"):
            raise PixelsmithError(f"{model} is a {net.task} model, not an inpainting one")
        # a gray picture goes through a colour model in its three channels and comes back
        # gray, as from `pixelsmith restore`; colour into a gray model is a one-line error
        pixels = read_image(path, equal_rgb_is_gray=True).pixels  # decoded once
        y01 = fit_to_inpainter(pixels, net.net.img_channels, path)
        known = mask_from_layers(layers, *y01.shape[-2:])
        x01, used = inpaint(net, y01, known), model.removeprefix(RUN_PREFIX)
        if pixels.shape[0] < x01.shape[1]:
            x01, y01 = uint8_to_unit(rgb_to_gray(unit_to_uint8(x01))), y01[:, :1]
    else:
        y01 = uint8_to_unit(read_image(path, equal_rgb_is_gray=True).pixels[None])
        known = mask_from_layers(layers, *y01.shape[-2:])
        x01, used = BASELINES.get(method)(y01, {"mask": known}), method
    out = out_dir(work_dir, "inpaint-")
    masked01 = torch.where(known.bool(), y01, torch.full_like(y01, 0.5))
    masked = save_png(unit_to_uint8(masked01[0]), out / "masked" / f"{path.stem}.png")
    result = save_png(unit_to_uint8(x01[0]), out / f"{path.stem}.png")
    holes = int((known == 0).sum())
    return Inpainted(masked, result, f"filled {holes} pixels "
                                     f"({100 * holes / known.numel():.1f}%) with {used}")
