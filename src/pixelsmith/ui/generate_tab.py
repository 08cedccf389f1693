"""The Generate and Interpolate tabs: sample grids and walks from a run's generator or a
packaged one (``pixelsmith models``), through
the same library calls as ``pixelsmith sample`` and ``pixelsmith interpolate`` (so the same
seed gives the same images, byte for byte in the PNG).

Every result is written into a fresh folder under the app's work folder, named so the
download says what it is (``samples_seed0.png``, ``interp_seed0.gif``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import sampling_settings
from pixelsmith.ui.catalog import (
    RUN_PREFIX,
    Choice,
    ModelCache,
    find_runs,
    packaged_names,
    resolve_choice,
)
from pixelsmith.ui.uploads import check_upload, out_dir

MAX_GRID = 1024  # images in one grid of the page; more belong in `pixelsmith sample -o DIR`
MAX_STEPS = 64  # frames of one walk


@dataclass
class ModelInfo:
    """What the Generate / Interpolate controls offer for one run."""

    num_classes: int  # > 0: conditional, a class can be chosen
    can_encode: bool  # a walk between two uploaded pictures is possible
    img_size: int
    img_channels: int
    step: int  # the checkpoint's step
    truncation: float | None  # the run's truncation setting; None: the model has none
    sampling: dict  # the run's own diffusion sampler settings (sampler, sample_steps, ...)
    summary: str = ""  # a packaged model's one-line summary from its manifest


@dataclass
class WalkResult:
    png: Path  # one row per walk, as `pixelsmith interpolate` writes it
    gif: Path  # ping-pong animation
    frames: list[Path]  # frame i: every walk at step i, one column (what the slider shows)


def generator_names(root: str | Path) -> list[str]:
    """What draws new images (GANs, VAEs, diffusion): the runs under ``root`` with a
    checkpoint as ``run: NAME``, then the packaged generators by name."""
    runs = [RUN_PREFIX + e.name for e in find_runs(root) if e.makes_images and e.has_checkpoint]
    return runs + packaged_names("generate")


def _generator(cache: ModelCache, choice: Choice, use_ema: bool = True,
               overrides: tuple[str, ...] = ()):
    if choice.packaged is not None:
        return cache.packaged_generator(choice.packaged, overrides=overrides)
    entry = choice.run
    if not entry.makes_images:
        raise PixelsmithError(f"run '{entry.name}' is a {entry.objective} model: it mends "
                              "pictures rather than drawing new ones (use the Restore or "
                              "Inpaint tab)")
    return cache.generator(entry.path, use_ema=use_ema, overrides=overrides)


def model_info(cache: ModelCache, root: str | Path, name: str) -> ModelInfo:
    choice = resolve_choice(root, name, plain_runs=True)
    model = _generator(cache, choice)
    obj = model.objective
    try:  # whether the objective encodes pictures: try it on one blank image
        x = torch.zeros(1, obj.info.img_channels, obj.info.img_size, obj.info.img_size)
        obj.encode(model.net, x.to(obj.device))
        can_encode = True
    except PixelsmithError:
        can_encode = False
    sampling = sampling_settings(model)  # what is left after truncation: diffusion's
    trunc = sampling.pop("truncation", None)
    summary = ""
    if choice.packaged is not None:
        from pixelsmith.zoo import find_card

        summary = find_card(choice.packaged).manifest.get("summary", "")
    return ModelInfo(obj.sample_classes, can_encode, obj.info.img_size, obj.info.img_channels,
                     int(model.meta.get("step") or 0), None if trunc is None else float(trunc),
                     sampling, summary)


def _given(value) -> bool:
    return value not in (None, "")


def sampling_overrides(truncation: float | None = None, sampler: str | None = None,
                       steps: int | None = None, guidance: float | None = None,
                       eta: float | None = None, precision: str | None = None
                       ) -> tuple[str, ...]:
    """The page's sampling settings as the overrides ``pixelsmith sample`` makes of its
    options (``--truncation``, ``--sampler``, ``--steps``, ``--guidance``, ``--eta``,
    ``--precision``);
    empty (and a truncation of 0) leaves the run's own setting."""
    from pixelsmith.generate.loading import truncation_overrides
    from pixelsmith.generate.sampler_options import sampler_overrides

    cut = float(truncation) if _given(truncation) and float(truncation) != 0 else None
    return tuple(truncation_overrides(cut) + sampler_overrides(
        sampler or None, int(steps) if _given(steps) else None,
        float(guidance) if _given(guidance) else None, float(eta) if _given(eta) else None,
        precision or None))


def _class(class_index: int | float | None) -> int | None:
    """A class box left empty or below 0 means: any class (the model picks at random)."""
    if class_index is None or class_index == "" or int(class_index) < 0:
        return None
    return int(class_index)


def generate_grid(cache: ModelCache, root: str | Path, name: str, work_dir: str | Path, *,
                  num: int = 16, seed: int = 0, class_index: int | None = None,
                  per_class: bool = False, use_ema: bool = True,
                  overrides: tuple[str, ...] = ()) -> Path:
    """A grid PNG of ``num`` samples (or ``num`` of every class, one row each): what
    ``pixelsmith sample RUN --num N --seed S [--class K | --per-class] -o grid.png`` writes.
    ``overrides``: sampling settings as ``objective.KEY=VALUE`` (``generate.load_model``)."""
    from pixelsmith.generate import class_labels, generate, per_class_grid, write_images
    from pixelsmith.generate.writer import check_grid

    num, seed = int(num), int(seed)
    if not 1 <= num <= MAX_GRID:
        raise PixelsmithError(f"number of images must be in 1..{MAX_GRID}, got {num} (more: "
                              "pixelsmith sample RUN --num N -o FOLDER)")
    model = _generator(cache, resolve_choice(root, name, plain_runs=True), use_ema, overrides)
    out = out_dir(work_dir, "generate-") / f"samples_seed{seed}.png"
    if per_class:
        check_grid(model, num * max(model.objective.sample_classes, 1), out)
        return write_images(per_class_grid(model, num, seed=seed), out, nrow=num)
    check_grid(model, num, out)
    labels = class_labels(model, num, _class(class_index))
    return write_images(generate(model, num, seed=seed, labels=labels), out)


def interpolate_walk(cache: ModelCache, root: str | Path, name: str, work_dir: str | Path, *,
                     steps: int = 8, rows: int = 4, seed: int = 0,
                     class_index: int | None = None, between: tuple | None = None,
                     seed_b: int | None = None, use_ema: bool = True,
                     max_upload_bytes: int | None = None,
                     overrides: tuple[str, ...] = ()) -> WalkResult:
    """Walks between random inputs, from the sample of ``seed`` to that of ``seed_b``, or
    between the encodings of two uploaded pictures: what ``pixelsmith interpolate``
    writes, plus each frame as its own PNG."""
    from pixelsmith.generate.interpolate import interpolate, write_interpolation
    from pixelsmith.training.run_log import save_grid

    steps, rows, seed = int(steps), int(rows), int(seed)
    if not 2 <= steps <= MAX_STEPS:
        raise PixelsmithError(f"steps must be in 2..{MAX_STEPS}, got {steps}")
    if not 1 <= rows <= 16:
        raise PixelsmithError(f"walks must be in 1..16, got {rows}")
    if between is not None:
        if any(p is None for p in between):
            raise PixelsmithError("upload two pictures to walk between them")
        between = tuple(check_upload(p, max_upload_bytes) for p in between)
    model = _generator(cache, resolve_choice(root, name, plain_runs=True), use_ema, overrides)
    seeds = None if between is not None or not _given(seed_b) else (seed, int(seed_b))
    frames = interpolate(model, steps, rows=rows, seed=seed, class_index=_class(class_index),
                         between=between, seeds=seeds)
    folder = out_dir(work_dir, "interpolate-")
    png, gif = write_interpolation(frames, folder / f"interp_seed{seed}.png")
    stills = []
    for i in range(steps):  # one column of every walk: the GIF's frame i, losslessly
        stills.append(folder / f"frame_{i:02d}.png")
        save_grid(frames[:, i], stills[-1], nrow=1)
    return WalkResult(png, gif, stills)
