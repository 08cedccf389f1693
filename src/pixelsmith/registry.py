"""Name -> component registries, so configs say ``model.name: dcgan`` instead of class paths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pixelsmith.errors import PixelsmithError


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    config: type | None  # the dataclass that holds this component's options, if it has any
    help: str


class Registry:
    """``@REG.register("name", config=Cfg)`` to add; ``REG.get("name")`` to look up."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, *, config: type | None = None, help: str = "") -> Callable:
        def deco(obj):
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            doc = help or next(iter((obj.__doc__ or "").strip().splitlines()), "")
            self._entries[name] = Entry(name, obj, config, doc)
            return obj

        return deco

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise PixelsmithError(
                f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}"
            ) from None

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self):
        return iter(self._entries[n] for n in self.names())


MODELS = Registry("model")
DATASETS = Registry("dataset")
GAN_LOSSES = Registry("gan loss")
OBJECTIVES = Registry("objective")
METRICS = Registry("metric")
DEGRADATIONS = Registry("degradation")  # restoration: clean image -> observation
MASKS = Registry("mask")  # inpainting: which pixels are missing
BASELINES = Registry("baseline")  # classical restorers scored by the same code
SAMPLERS = Registry("sampler")  # diffusion: noise -> image along a time grid
