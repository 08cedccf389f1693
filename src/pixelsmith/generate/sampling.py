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

BLOCK = 65536  # images whose inputs are drawn at once: memory stays bounded for any --num


def _block_generator(seed: int, block: int) -> torch.Generator:
    """Block 0 draws from ``seed`` itself (so up to BLOCK images are what they always were);
    later blocks from seeds derived from (seed, block)."""
    if block == 0:
        return torch.Generator().manual_seed(seed)
    return torch.Generator().manual_seed((seed * 1_000_003 + block * 0x9E3779B1) % 2**63)


def sample_batches(model: LoadedModel, num: int, *, seed: int = 0, batch_size: int = 256,
                   labels: torch.Tensor | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, images) for consecutive chunks of ``num`` images, images in [-1, 1] on the
    model's device, (B, C, H, W). Arguments are checked and the first inputs drawn now, so
    a model that cannot sample fails before the caller makes any folder.

    Inputs are drawn BLOCK images at a time (then their noise seeds), each block from its
    own generator: the same seed gives the same images whatever the batch size, and a
    billion images need no more memory than one block."""
    if num < 1:
        raise PixelsmithError(f"--num must be at least 1, got {num}")
    if batch_size < 1:
        raise PixelsmithError(f"the batch size must be at least 1, got {batch_size}")
    if labels is not None and len(labels) != num:
        raise PixelsmithError(f"need {num} labels, got {len(labels)}")
    first = _draw(model, 0, min(num, BLOCK), seed, labels)
    return _chunks(model, first, num, seed, batch_size, labels)


def first_inputs(model: LoadedModel, seed: int, labels: torch.Tensor | None = None):
    """(inputs, noise) of the first image ``pixelsmith sample --seed SEED`` makes (one
    row): the ends of a walk between two seeds."""
    return _draw(model, 0, 1, seed, labels)


def _draw(model, start: int, stop: int, seed: int, labels):
    gen = _block_generator(seed, start // BLOCK)
    rows = None if labels is None else labels[start:stop]
    inputs = model.objective.sample_inputs(stop - start, gen, rows)
    return inputs, SampleNoise.draw(stop - start, gen)  # after the inputs: they stay put


@torch.no_grad()
def _chunks(model, first, num, seed, batch_size, labels) -> Iterator[tuple[int, torch.Tensor]]:
    for start in range(0, num, BLOCK):
        stop = min(num, start + BLOCK)
        inputs, noise = first if start == 0 else _draw(model, start, stop, seed, labels)
        for i in range(0, stop - start, batch_size):
            rows = slice(i, i + batch_size)
            yield start + i, model.objective.sample(
                model.net, {k: v[rows] for k, v in inputs.items()}, noise[rows])


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
    return torch.tensor(class_index).expand(num)  # one value seen num times: no num-sized copy


def per_class_grid(model: LoadedModel, per_class: int, *, seed: int = 0) -> torch.Tensor:
    """``per_class`` samples of every class, class k in row k: (K * per_class, C, H, W)."""
    k = model.objective.sample_classes
    if not k:
        raise PixelsmithError(f"--per-class: the model in {model.path} is not conditional")
    labels = torch.arange(k).repeat_interleave(per_class)  # (K * per_class,)
    return generate(model, k * per_class, seed=seed, labels=labels)
