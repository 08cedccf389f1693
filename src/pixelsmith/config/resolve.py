"""Name resolution: a nested mapping (a YAML file plus ``--set`` overrides, or the config
stored in a checkpoint) -> a typed ``Config``.

``model.name`` picks the model's own Config dataclass from ``MODELS``, ``objective.name``
(default: the model's ``default_objective``) the objective's from ``OBJECTIVES``. This module
sits above the components (it imports them to fill the registries); the components import
only ``config.schema``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pixelsmith.models  # noqa: F401 - registers the models
import pixelsmith.objectives  # noqa: F401 - registers the objectives
from pixelsmith.config.checks import check_config
from pixelsmith.config.loader import apply_overrides, from_dict, read_yaml
from pixelsmith.config.schema import Config, DataConfig, TrainConfig
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import MODELS, OBJECTIVES

SECTIONS = {"data": DataConfig, "train": TrainConfig}
# keys that moved between sections: a file that still uses the old place is told the new one
MOVED = {"objective.lr_milestones": "train.lr_milestones", "objective.lr_gamma": "train.lr_gamma"}


def _component(registry, data: Any, path: str, default_name: str):
    if data is not None and not isinstance(data, dict):  # `model: 3`, `--set model=[1]`
        raise PixelsmithError(f"'{path}' must be a mapping of keys (like {path}.name: ...), "
                              f"got {data!r}")
    data = dict(data or {})
    name = data.setdefault("name", default_name)
    if not isinstance(name, str):
        raise PixelsmithError(f"'{path}.name' must be str, got {name!r}")
    entry = registry.entry(name)
    for key in data:
        new = MOVED.get(f"{path}.{key}")
        if new:
            raise PixelsmithError(f"'{path}.{key}' is now '{new}' (the trainer applies the "
                                  "learning-rate schedule to every phase); move it there, "
                                  "with train.lr_schedule: step")
    return from_dict(entry.config, data, path)


def config_from_dict(data: Any) -> Config:
    """Resolve a nested mapping (YAML overrides) against the typed defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PixelsmithError(f"a config must be a mapping of sections, got {data!r}")
    known = ("model", "data", "train", "objective")
    for key in data:
        if key not in known:
            raise PixelsmithError(f"unknown key '{key}'; valid sections are: {', '.join(known)}")
    model = _component(MODELS, data.get("model"), "model", "dcgan")
    objective = _component(OBJECTIVES, data.get("objective"), "objective",
                           type(model).default_objective)
    sections = {k: from_dict(cls, data.get(k), k) for k, cls in SECTIONS.items()}
    cfg = Config(model=model, objective=objective, **sections)
    check_config(cfg)  # ranges: a bad value is an error now, not a traceback steps later
    return cfg


def upgrade_config(data: dict) -> dict:
    """A config stored by an earlier pixelsmith, in today's shape (a copy): the restorer's
    step schedule moved from ``objective.lr_milestones`` / ``lr_gamma`` to ``train``."""
    data = copy.deepcopy(data)
    objective, train = data.get("objective"), data.get("train")
    if isinstance(objective, dict) and isinstance(train, dict) and "lr_milestones" in objective:
        milestones = objective.pop("lr_milestones")
        gamma = objective.pop("lr_gamma", 0.1)
        if milestones and "lr_schedule" not in train:
            train.update(lr_schedule="step", lr_milestones=milestones, lr_gamma=gamma)
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Load a YAML experiment file (or none: all defaults) and apply ``--set`` overrides."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, list(overrides))
    try:
        return config_from_dict(data)
    except PixelsmithError as e:
        raise PixelsmithError(f"{path}: {e}" if path else str(e)) from None
