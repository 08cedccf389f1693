"""Generate images from a trained run: the library behind ``pixelsmith sample``.

``sample_batches`` is the one chunked sampling loop: every command that makes images
(``sample`` to a grid or a folder, ``export``, the metrics) goes through it, so the same
``--seed`` gives the same images whatever the batch size. The inputs of all ``num`` images
are drawn up front from one generator, then one noise seed per image (``SampleNoise``) for
samplers that draw noise while they sample.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import LoadedModel
from pixelsmith.objectives import SampleNoise


def sample_batches(model: LoadedModel, num: int, *, seed: int = 0, batch_size: int = 256,
                   labels: torch.Tensor | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, images) for consecutive chunks of ``num`` images, images in [-1, 1] on the
    model's device, (B, C, H, W). Arguments are checked and the inputs drawn now, so a
    model that cannot sample fails before the caller makes any folder."""
    if num < 1:
        raise PixelsmithError(f"--num must be at least 1, got {num}")
    if batch_size < 1:
        raise PixelsmithError(f"the batch size must be at least 1, got {batch_size}")
    obj = model.objective
    gen = torch.Generator().manual_seed(seed)
    inputs = obj.sample_inputs(num, gen, labels)
    noise = SampleNoise.draw(num, gen)  # after the inputs, so the inputs do not change
    return _chunks(model, inputs, noise, num, batch_size)


@torch.no_grad()
def _chunks(model, inputs, noise, num, batch_size) -> Iterator[tuple[int, torch.Tensor]]:
    for i in range(0, num, batch_size):
        rows = slice(i, i + batch_size)
        yield i, model.objective.sample(model.net, {k: v[rows] for k, v in inputs.items()},
                                        noise[rows])


@torch.no_grad()
def generate(model: LoadedModel, num: int, *, seed: int = 0, batch_size: int = 256,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """``num`` images in [-1, 1] on the CPU; the same seed gives the same images."""
    out = [images.float().cpu() for _, images in
           sample_batches(model, num, seed=seed, batch_size=batch_size, labels=labels)]
    return torch.cat(out)


def class_labels(model: LoadedModel, num: int, class_index: int | None) -> torch.Tensor | None:
    """Labels for ``num`` samples: all ``class_index``, or None (the model picks at random)."""
    k = model.objective.sample_classes
    if class_index is None:
        return None
    if not k:
        raise PixelsmithError(f"--class: the model in {model.path} is not conditional")
    if not 0 <= class_index < k:
        raise PixelsmithError(f"--class must be in 0..{k - 1}, got {class_index}")
    return torch.full((num,), class_index, dtype=torch.long)


def per_class_grid(model: LoadedModel, per_class: int, *, seed: int = 0) -> torch.Tensor:
    """``per_class`` samples of every class, class k in row k: (K * per_class, C, H, W)."""
    k = model.objective.sample_classes
    if not k:
        raise PixelsmithError(f"--per-class: the model in {model.path} is not conditional")
    labels = torch.arange(k).repeat_interleave(per_class)  # (K * per_class,)
    return generate(model, k * per_class, seed=seed, labels=labels)
