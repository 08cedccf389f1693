"""Export a synthetic data set from a trained generator: the library behind
``pixelsmith export``. Layout is torchvision's ImageFolder (``OUT/<class>/<index>.png``;
unconditional models write one folder, ``OUT/samples/``) plus ``OUT/manifest.json``
recording the checkpoint's hash (or the packaged model's), the seed, how it sampled and the
config, so the set can be regenerated."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

import pixelsmith
from pixelsmith.data.transforms import to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import LoadedModel, sampling_settings
from pixelsmith.generate.sampling import sample_batches
from pixelsmith.generate.writer import PngWriter
from pixelsmith.hashing import sha256_file
from pixelsmith.training.checkpoint import EMA_FILE, MODEL_FILE


def _folder_names(model: LoadedModel) -> list[str]:
    k = model.objective.sample_classes
    if not k:
        return ["samples"]
    names = list(model.meta.get("data", {}).get("class_names") or [])
    if len(names) != k:
        names = [str(i) for i in range(k)]
    # class names become folder names: keep them portable, and index-prefixed so that
    # ImageFolder's alphabetical order is the model's class order
    width = len(str(k - 1))
    return [f"{i:0{width}d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', n)}" for i, n in enumerate(names)]


def _weight_hashes(model: LoadedModel) -> dict[str, str]:
    """{weights file: SHA-256} of what generated: a run's model (and EMA) file, or the one
    weights file of a packaged model, as its manifest names it."""
    packaged = model.meta.get("packaged")
    if packaged:
        return {packaged["weights"]: packaged["sha256"]}
    hashes = {MODEL_FILE: sha256_file(model.path / MODEL_FILE)}
    if model.used_ema:
        hashes[EMA_FILE] = sha256_file(model.path / EMA_FILE)
    return hashes


@torch.no_grad()
def export(model: LoadedModel, num: int, out: str | Path, *, seed: int = 0,
           batch_size: int = 256, workers: int | None = None) -> dict:
    """Write ``num`` generated images (classes balanced for conditional models) and the
    manifest; returns the manifest."""
    if num < 1:  # before the folder check: a bad --num leaves nothing behind
        raise PixelsmithError(f"--num must be at least 1, got {num}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PixelsmithError(f"{out} is not empty; export into a new folder")
    folders = _folder_names(model)
    obj = model.objective
    labels = torch.arange(num) % obj.sample_classes if obj.sample_classes else None
    batches = sample_batches(model, num, seed=seed, batch_size=batch_size, labels=labels)
    for name in folders:
        (out / name).mkdir(parents=True, exist_ok=True)
    counts = [0] * len(folders)
    with PngWriter(out, workers or min(8, os.cpu_count() or 1)) as writer:
        for i, images in batches:
            pixels = to_uint8(images).cpu()  # (B, C, H, W) uint8
            paths = []
            for j in range(len(pixels)):
                k = 0 if labels is None else int(labels[i + j])
                counts[k] += 1
                paths.append(out / folders[k] / f"{i + j:06d}.png")
            writer.put(pixels, paths)
    packaged = model.meta.get("packaged")  # a model shipped in the package
    manifest = {
        "num_images": num,
        "seed": seed,
        "layout": "ImageFolder",
        "classes": dict(zip(folders, counts)),
        "checkpoint": str(model.path),
        **({"packaged_model": packaged["name"]} if packaged else {}),
        "step": model.meta.get("step"),
        # a packaged model's weights are as shipped (the run's EMA copy where it kept one)
        **({} if packaged else {"used_ema": model.used_ema}),
        # how it sampled (--truncation, --sampler, --steps, ...), not in the training
        # config: needed to regenerate the same files
        "truncation": getattr(model.cfg.objective, "truncation", 0.0),
        "sampling": sampling_settings(model),
        "sha256": _weight_hashes(model),
        "config": model.meta.get("config"),
        "versions": {"pixelsmith": pixelsmith.__version__, "torch": torch.__version__},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
