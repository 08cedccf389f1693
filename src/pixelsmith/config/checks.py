"""Range checks of a resolved config: every value a run will use is checked when the config
is loaded (a YAML file, ``--set``, or the config inside a checkpoint), so a bad one is a
one-line error naming the key and what is allowed, never a traceback steps later.

The fixed sections (``train``, ``data``) have explicit rules; the model and objective
sections, which are the components' own dataclasses, are checked by the naming
conventions they follow (``*_dim``, ``*width``, ``depth`` ... are sizes, ``lr*`` rates,
``*_weight`` weights, ``betas`` Adam's pair).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

from pixelsmith.errors import PixelsmithError

DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

Rule = tuple[Callable[[Any], bool], str]  # (ok?, what is allowed)


def _at_least(lo: int) -> Rule:
    return (lambda v: v >= lo), f"an integer >= {lo}"


POSITIVE: Rule = (lambda v: v > 0), "a number > 0"
NON_NEGATIVE: Rule = (lambda v: v >= 0), "a number >= 0"
DECAY: Rule = (lambda v: 0 <= v < 1), "a number in [0, 1) (0 = off)"
OPEN_FRACTION: Rule = (lambda v: 0 < v < 1), "a number in (0, 1)"
BETAS: Rule = (lambda v: len(v) == 2 and all(0 <= b < 1 for b in v),
               "two numbers in [0, 1), like [0.5, 0.999]")

TRAIN: dict[str, Rule] = {
    "steps": _at_least(0), "batch_size": _at_least(1), "accumulate": _at_least(1),
    "log_every": _at_least(1),
    "sample_every": _at_least(0), "num_samples": _at_least(1),
    "checkpoint_every": _at_least(0), "eval_every": _at_least(0), "eval_num": _at_least(1),
    "ema_decay": DECAY, "ema_start": _at_least(0),
    # the lr_* keys are checked together by training.schedule.LRSchedule (they depend on
    # each other: milestones only with the step schedule)
    "device": ((lambda v: DEVICE.fullmatch(v) is not None), "auto, cpu, cuda, cuda:N or mps"),
}
DATA: dict[str, Rule] = {
    "img_size": _at_least(0), "img_channels": ((lambda v: v in (1, 3)), "1 or 3"),
    "max_images": _at_least(1), "patch_size": _at_least(1),
}
# model and objective sections, by field name (first match wins)
BY_NAME: list[tuple[re.Pattern, Rule]] = [
    (re.compile(r"betas"), BETAS),
    (re.compile(r"lr(_\w+)?"), POSITIVE),
    (re.compile(r"\w*_dim|\w*width|depth|blocks|levels|d_levels|scale|n_critic"), _at_least(1)),
    (re.compile(r"\w*_weight|beta|\w*_steps|attention|dilated"), NON_NEGATIVE),
    (re.compile(r"dropout"), DECAY),
    (re.compile(r"coverage"), OPEN_FRACTION),
    (re.compile(r"fixed_std|res_scale"), POSITIVE),
]


def _finite(value: Any) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(math.isfinite(v) for v in items if isinstance(v, float))


def _check(section: str, key: str, value: Any, rule: Rule | None) -> None:
    if value is None or isinstance(value, bool):
        return
    if not _finite(value):
        raise PixelsmithError(f"'{section}.{key}' must be a finite number, got {value!r}")
    if rule is not None and isinstance(value, (int, float, str, list, tuple)):
        ok, allowed = rule
        if not ok(value):
            raise PixelsmithError(f"'{section}.{key}' must be {allowed}, got {value!r}")


def _rule_by_name(key: str) -> Rule | None:
    return next((rule for pattern, rule in BY_NAME if pattern.fullmatch(key)), None)


def check_config(cfg: Any) -> None:
    """Raise a one-line ``PixelsmithError`` for the first value out of its range."""
    for section, rules in (("train", TRAIN), ("data", DATA)):
        for f in dataclasses.fields(getattr(cfg, section)):
            _check(section, f.name, getattr(getattr(cfg, section), f.name), rules.get(f.name))
    for section in ("model", "objective"):
        part = getattr(cfg, section)
        if not dataclasses.is_dataclass(part):
            continue
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            numeric = isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool)
            _check(section, f.name, value, _rule_by_name(f.name) if numeric else None)
