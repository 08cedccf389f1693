"""Strict YAML loading: unknown keys and wrong types are one-line errors naming the key path.

Nothing here knows the registries: ``resolve.py`` turns a mapping into a ``Config`` by
looking up the model's and objective's own dataclasses."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from pixelsmith.config.schema import Config
from pixelsmith.errors import PixelsmithError

_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, path)
            except PixelsmithError as e:
                errors.append(e)
        raise PixelsmithError(f"'{path}' must be {_type_name(tp)}, got {value!r}")
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise PixelsmithError(f"'{path}' must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise PixelsmithError(f"'{path}' must have {len(args)} items, got {value!r}")
            items = [_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise PixelsmithError(f"'{path}' must be {_type_name(tp)}, got {value!r}")


def from_dict(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PixelsmithError(f"'{path}' must be a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise PixelsmithError(
                f"unknown key '{path}.{key}'; valid keys are: {', '.join(fields)}"
            )
        value = _coerce(value, hints[key], f"{path}.{key}")
        choices = fields[key].metadata.get("choices")
        if choices and value not in choices:
            raise PixelsmithError(
                f"'{path}.{key}' must be one of {', '.join(map(str, choices))}, got {value!r}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def config_to_dict(cfg: Config) -> dict:
    """Plain nested dict (tuples as lists) that round-trips through ``config_from_dict``."""

    def plain(v):
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.steps=100"`` -> (["train", "steps"], 100); the value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise PixelsmithError(f"--set expects KEY=VALUE (like train.steps=100), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = dict(data or {})
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for i, k in enumerate(keys[:-1]):
            child = node.get(k)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                raise PixelsmithError(f"--set {text}: '{'.'.join(keys[: i + 1])}' is not a section")
            node[k] = child = dict(child)
            node = child
        node[keys[-1]] = value
    return data


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping (plain YAML keeps
    the last one silently, so an edit lower in the file would undo one above it)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue  # unhashable keys: the strict config loader names them later
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                              _StrictLoader.construct_mapping)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise PixelsmithError(f"config file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PixelsmithError(f"{path}: not a text (UTF-8) YAML file") from None
    except OSError as e:
        raise PixelsmithError(f"{path}: cannot read it ({e.strerror})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", e)
        raise PixelsmithError(f"{path}:{where} is not valid YAML ({problem})") from None
    if data is not None and not isinstance(data, dict):
        raise PixelsmithError(f"{path}: a config must be a mapping of sections")
    return data or {}


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
