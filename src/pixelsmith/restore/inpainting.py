"""Inpaint a user's images with a trained model: the library behind
``pixelsmith restore --task inpaint``.

Images are read at their own size (no resizing: a resized picture would not match its
mask); the network is fully convolutional and pads internally to a multiple of its
stride, so any size works in one pass. A model trained on 28 or 32 px images has learnt
to fill holes of that scale; the packaged ``inpaint-color`` was trained on photographs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from pixelsmith.data.image_files import read_image as read_image_file
from pixelsmith.data.image_files import save_png, side_by_side
from pixelsmith.data.masks import load_mask_file
from pixelsmith.data.transforms import uint8_to_unit
from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.generate.loading import LoadedModel, load_model, require_objective
from pixelsmith.objectives.noise import SampleNoise


def load_inpainter(run_or_ckpt, *, device: str = "auto", overrides: list[str] = ()
                   ) -> LoadedModel:
    """An inpainting run's generator (EMA weights when kept), ready for ``inpaint``; or a
    diffusion run's denoiser, which ``inpaint`` uses through RePaint (``overrides``: its
    sampling settings, e.g. ``objective.sample_precision=bf16``)."""
    model = load_model(run_or_ckpt, device=device, overrides=overrides)
    if hasattr(model.objective, "inpaint"):  # a diffusion model: fills by RePaint
        return model
    return require_objective(model, "inpainting", "{path} is a '{have}' model, not an "
                             "inpainting one; train one with configs/inpainting/*.yaml")


@torch.no_grad()
def inpaint(model: LoadedModel | torch.nn.Module, y01: torch.Tensor,
            mask: torch.Tensor) -> torch.Tensor:
    """Fill the holes: y01 (N, C, H, W) in [0, 1], mask (N or 1, 1, H, W) with 1 = known
    -> (N, C, H, W) in [0, 1]; known pixels are returned exactly (bit for bit)."""
    net = model.net if isinstance(model, LoadedModel) else model
    param = next(net.parameters())
    if y01.dim() != 4 or mask.dim() != 4 or mask.shape[1] != 1:
        raise PixelsmithError(f"inpaint needs images (N, C, H, W) and masks (N, 1, H, W), got "
                              f"{tuple(y01.shape)} and {tuple(mask.shape)}")
    if y01.shape[1] != net.img_channels:
        raise PixelsmithError(f"the model fills {net.img_channels}-channel images, "
                              f"got {y01.shape[1]} channels")
    if mask.shape[-2:] != y01.shape[-2:]:
        raise PixelsmithError(f"mask is {mask.shape[-1]}x{mask.shape[-2]} but the image is "
                              f"{y01.shape[-1]}x{y01.shape[-2]} (WxH)")
    keep = mask.expand(y01.shape[0], 1, *y01.shape[-2:]).to(y01.device).bool()
    y = (y01.to(param.device, torch.float32) * 2 - 1)
    if isinstance(model, LoadedModel) and hasattr(model.objective, "inpaint"):
        # a generator trained on whole images (diffusion): RePaint, seeded per picture
        noise = SampleNoise.fixed(y.shape[0], 0)
        out = model.objective.inpaint(net, y, keep.to(param.device), noise)
    else:
        out = net(y, keep.to(param.device).float())
    out = out.float().cpu().to(y01.device)  # [-1, 1]
    return torch.where(keep, y01, ((out + 1) / 2).clamp(0, 1).to(y01.dtype))


def fit_to_inpainter(pixels: torch.Tensor, channels: int, path: Path) -> torch.Tensor:
    """A decoded picture, uint8 (C, H, W), as the input of a ``channels``-channel inpainter:
    float (1, channels, H, W) in [0, 1]. A gray picture given to a colour model is repeated
    into its three channels; a colour one cannot go to a gray model (one-line error)."""
    have = pixels.shape[0]
    if have == 1 and channels == 3:
        pixels = pixels.expand(3, -1, -1)
    elif have != channels:
        kind = {1: "gray (1 channel)", 3: "colour (3 channels)"}
        raise PixelsmithError(f"image {path} is {kind[have]} but the model fills "
                              f"{kind[channels]} images; convert the image first")
    return uint8_to_unit(pixels[None])


def inpaint_files(checkpoint, inputs: list[Path], mask: Path | None,
                  out_dir: Path, *, compare: bool = False, device: str = "auto",
                  on_unreadable: Callable[[Path, UnreadableImage], None] | None = None,
                  overrides: list[str] = ()) -> list[Path]:
    """Inpaint each input file with one mask file (white = missing, the image's size);
    writes ``out_dir/<name>.png`` and with ``compare`` ``<name>_compare.png`` (masked |
    inpainted). Returns the inpainted files' paths. ``overrides``: a diffusion
    inpainter's sampling settings (``load_inpainter``). A file that cannot be decoded raises,
    or with ``on_unreadable`` is handed to it and skipped."""
    if mask is None:
        raise PixelsmithError("inpainting needs --mask MASK.png (white = missing pixels, "
                              "the same size as the image)")
    if not inputs:
        raise PixelsmithError("no input images given")
    stems = [Path(p).stem for p in inputs]
    clash = next((s for s in stems if stems.count(s) > 1), None)
    if clash is not None:
        raise PixelsmithError(f"two inputs would both be written as {clash}.png; rename one")
    model = load_inpainter(checkpoint, device=device, overrides=overrides)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    from pixelsmith.restore.files import to_file_channels

    for path in map(Path, inputs):
        try:  # transparency aside, written back unchanged
            img = read_image_file(path, keep_alpha=True, equal_rgb_is_gray=True)
        except UnreadableImage as e:
            if on_unreadable is None:
                raise
            on_unreadable(path, e)
            continue
        y01 = fit_to_inpainter(img.pixels, model.net.img_channels, path)
        m = load_mask_file(mask, *y01.shape[-2:])
        x01 = inpaint(model, y01, m)
        dest = out_dir / f"{path.stem}.png"
        filled = to_file_channels(x01[0], img)  # a gray picture stays gray
        save_png(filled, dest, img.alpha)
        written.append(dest)
        if compare:  # masked (hole mid-gray) | inpainted, 4 white pixels between
            masked = torch.where(m.bool(), y01, torch.full_like(y01, 0.5))
            save_png(side_by_side([to_file_channels(masked[0], img), filled]),
                     out_dir / f"{path.stem}_compare.png")
    return written
