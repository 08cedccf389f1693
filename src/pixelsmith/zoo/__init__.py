"""Trained models that ship inside the package: ``pixelsmith restore photo.jpg`` and
``pixelsmith models`` work straight after ``pip install``, offline.

    from pixelsmith.zoo import list_models, load_pretrained
    r = load_pretrained("denoise-gray")        # the same Restorer as load_restorer(run)
    x01 = r.restore_image(y01_chw)             # noise level estimated when not given

Each model is a folder ``zoo/models/<name>/`` holding ``weights.safetensors`` (float16,
loaded without running code, cast to float32) and ``manifest.json``: what it does, its
full training config, the data set and its checksum, steps, wall time, device, torch
version, the bench table it scored and the command that reproduces it
(``zoo/card.py`` reads and checks it; ``bench/zoo_package.py`` writes it).
"""

from __future__ import annotations

from pixelsmith.zoo.card import ModelCard, find_card, list_models, pick_model
from pixelsmith.zoo.loading import load_pretrained

__all__ = ["ModelCard", "find_card", "list_models", "load_pretrained", "pick_model"]
