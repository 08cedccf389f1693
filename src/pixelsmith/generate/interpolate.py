"""Walks between inputs: the library behind ``pixelsmith interpolate`` (a grid PNG, one row
per walk, and an animated GIF)."""

from __future__ import annotations

from pathlib import Path

import torch

from pixelsmith.data.image_files import read_image
from pixelsmith.data.transforms import from_uint8, to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import LoadedModel
from pixelsmith.generate.sampling import class_labels, first_inputs
from pixelsmith.objectives import SampleNoise
from pixelsmith.training.run_log import save_grid


def load_images(paths: list[str | Path], img_size: int, img_channels: int) -> torch.Tensor:
    """Image files -> (N, C, H, W) floats in [-1, 1], converted like the training data."""
    return from_uint8(torch.stack([read_image(p, img_channels, size=img_size).pixels
                                   for p in paths]))


@torch.no_grad()
def interpolate(model: LoadedModel, steps: int, *, rows: int = 1, seed: int = 0,
                class_index: int | None = None,
                between: tuple[str | Path, str | Path] | None = None,
                seeds: tuple[int, int] | None = None) -> torch.Tensor:
    """(rows, steps, C, H, W): each row walks from one input to another (spherical in z).
    With ``between`` the two ends are the encodings of two image files (one row); with
    ``seeds`` (A, B) they are the first images of ``pixelsmith sample --seed A`` and
    ``--seed B`` (one row; the walk keeps A's noise streams and, for a conditional model,
    A's class unless ``class_index`` is given)."""
    if steps < 2:
        raise PixelsmithError(f"--steps must be at least 2, got {steps}")
    if between is not None and seeds is not None:
        raise PixelsmithError("give --between (two images) or --seeds (two seeds), not both")
    obj, t = model.objective, torch.linspace(0, 1, steps)
    if seeds is not None:
        a, noise = first_inputs(model, int(seeds[0]), class_labels(model, 1, class_index))
        b, _ = first_inputs(model, int(seeds[1]), a.get("c", class_labels(model, 1,
                                                                          class_index)))
        ends = [(a, b)]
    elif between is not None:
        info = obj.info
        x = load_images(list(between), info.img_size, info.img_channels).to(obj.device)
        codes = obj.encode(model.net, x)
        ends = [({k: v[0:1].cpu() for k, v in codes.items()},
                 {k: v[1:2].cpu() for k, v in codes.items()})]
        noise = SampleNoise.fixed(1, seed)
    else:
        gen = torch.Generator().manual_seed(seed)
        labels = class_labels(model, 2 * rows, class_index)
        if labels is None and obj.sample_classes:  # same random class at both ends of a row
            labels = torch.randint(obj.sample_classes, (rows,), generator=gen).repeat(2)
        inputs = obj.sample_inputs(2 * rows, gen, labels)
        ends = [({k: v[i : i + 1] for k, v in inputs.items()},
                 {k: v[rows + i : rows + i + 1] for k, v in inputs.items()}) for i in range(rows)]
        noise = SampleNoise.draw(rows, gen)
    # every frame of a walk shares the walk's noise streams, so only the inputs move
    out = [obj.sample(model.net, obj.interpolate_inputs(a, b, t),
                      noise[i : i + 1].repeat_rows(steps)).float().cpu()
           for i, (a, b) in enumerate(ends)]
    return torch.stack(out)  # (rows, steps, C, H, W)


def write_interpolation(frames: torch.Tensor, out: str | Path, *,
                        fps: int = 8) -> tuple[Path, Path]:
    """A grid PNG (one row per walk) and an animated GIF beside it (one frame per step)."""
    from PIL import Image
    from torchvision.utils import make_grid

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise PixelsmithError(f"--out must be a .png file, got {out}")
    rows, steps = frames.shape[:2]
    save_grid(frames.flatten(0, 1), out, nrow=steps)
    pics = []
    for s in range(steps):
        grid = make_grid(to_uint8(frames[:, s]), nrow=1, padding=2, pad_value=255)  # (C, H, W)
        pics.append(Image.fromarray(grid.permute(1, 2, 0).numpy()))
    # ping-pong so the loop has no jump back
    seq = pics + pics[-2:0:-1]
    gif = out.with_suffix(".gif")
    seq[0].save(gif, save_all=True, append_images=seq[1:], duration=int(1000 / fps), loop=0)
    return out, gif
