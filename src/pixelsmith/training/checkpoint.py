"""Checkpoints are data, never code.

Layout of ``RUN/checkpoints/step_0000100/``:
  model.safetensors   every network's weights, keys "<net>.<param>"
  ema.safetensors     the EMA copy of the sampling network (when EMA is on)
  train_state.pt      optimizer and RNG states: tensors and plain containers only,
                      loaded with ``torch.load(weights_only=True)``
  meta.json           step, config, versions, metrics

A checkpoint folder is written under a temporary name and renamed into place, and the
pointers ``last.json`` / ``best.json`` are replaced atomically, so a crash at any moment
leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from pixelsmith.errors import PixelsmithError, first_line

MODEL_FILE, EMA_FILE, STATE_FILE, META_FILE = (
    "model.safetensors", "ema.safetensors", "train_state.pt", "meta.json",
)


class CheckpointWriteError(PixelsmithError, OSError):
    """A checkpoint that could not be written (full disk, no permission): a one-line error
    for users, and still an OSError for code that handles file-system failures."""


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _kind(value) -> str:
    return "a list" if isinstance(value, list) else f"{type(value).__name__} {value!r:.40}"


def read_json(path: Path) -> dict:
    """A metadata file (meta.json, a pointer) as a dict; anything else is a one-line error
    naming the file and what is wrong with it."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise PixelsmithError(f"{path} is missing") from None
    except OSError as e:
        raise PixelsmithError(f"{path}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise PixelsmithError(f"{path}: damaged (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise PixelsmithError(f"{path}: damaged (not valid JSON: {e.msg}, line {e.lineno})"
                              ) from None
    if not isinstance(data, dict):
        raise PixelsmithError(f"{path}: damaged (a JSON object was expected, got {_kind(data)})")
    return data


def _field(data: dict, key: str, types: type | tuple, path: Path, *, need: bool = True,
           minimum: int | None = None):
    """``data[key]`` checked: present (``need``), of ``types``, and >= ``minimum``."""
    if key not in data:
        if need:
            raise PixelsmithError(f"{path}: damaged (no '{key}' entry)")
        return None
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise PixelsmithError(f"{path}: damaged ('{key}' must be {names}, got {_kind(value)})")
    if minimum is not None and value < minimum:
        raise PixelsmithError(f"{path}: damaged ('{key}' must be >= {minimum}, got {value})")
    return value


def read_pointer(ckpt_root: Path, name: str) -> dict | None:
    """``last.json`` / ``best.json`` checked: ``dir`` a checkpoint folder's plain name (never
    a path leaving the run), ``step`` / ``value`` numbers. None when the file is absent."""
    path = ckpt_root / name
    if not path.exists():
        return None
    data = read_json(path)
    folder = _field(data, "dir", str, path)
    if not folder or Path(folder).name != folder or folder in (".", ".."):
        raise PixelsmithError(f"{path}: damaged ('dir' must name a folder beside it, "
                              f"got {folder!r})")
    _field(data, "step", int, path, need=False, minimum=0)
    _field(data, "value", (int, float), path, need=False)
    return data


def _pinned_by(ckpt_root: Path, name: str) -> str | None:
    """The folder a pointer pins, for pruning; a damaged pointer is moved aside with a
    warning, so that it cannot stop every later save."""
    try:
        data = read_pointer(ckpt_root, name)
    except PixelsmithError as e:
        aside = ckpt_root / f"{name}.damaged"
        os.replace(ckpt_root / name, aside)
        warnings.warn(f"{e}; moved aside to {aside.name}, no checkpoint is pinned by it now",
                      stacklevel=3)
        return None
    return None if data is None else data["dir"]


def nets_state(nets: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory, so each is stored as its own copy
    return {
        f"{name}.{k}": v.detach().to("cpu").contiguous().clone()
        for name, net in nets.items()
        for k, v in net.state_dict().items()
    }


def save_checkpoint(ckpt_root: Path, step: int, *, nets: dict[str, nn.Module],
                    ema: nn.Module | None, ema_name: str, train_state: dict, meta: dict,
                    keep: set[str] = frozenset()) -> Path:
    """Write ``step_<step>`` atomically, point ``last.json`` at it, drop older unpinned ones.

    At every moment ``last.json`` names a complete folder: the new one is written under a
    temporary name and renamed, and a step saved twice (resumed and stopped at once) goes
    into a folder beside the old one, which is removed only after the pointer moved."""
    tmp = None
    try:
        ckpt_root.mkdir(parents=True, exist_ok=True)
        pinned = {_pinned_by(ckpt_root, p) for p in ("last.json", "best.json")}
        final = ckpt_root / f"step_{step:07d}"
        if final.exists() and final.name not in pinned:  # a leftover nothing points at
            shutil.rmtree(final)
        k = 1
        while final.exists():  # the pinned folder of this step stays until the pointer moved
            final, k = ckpt_root / f"step_{step:07d}-{k}", k + 1
        tmp = ckpt_root / f".{final.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        save_file(nets_state(nets), str(tmp / MODEL_FILE))
        if ema is not None:
            save_file(nets_state({ema_name: ema}), str(tmp / EMA_FILE))
        torch.save(train_state, tmp / STATE_FILE)
        (tmp / META_FILE).write_text(json.dumps({"step": step, **meta}, indent=1))
        os.rename(tmp, final)
        _atomic_write_text(ckpt_root / "last.json",
                           json.dumps({"dir": final.name, "step": step}))
    except (OSError, SafetensorError, RuntimeError) as e:  # a full disk, no permission...
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        why = (f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.strerror
               else first_line(e, 200, type(e).__name__))
        raise CheckpointWriteError(f"writing the checkpoint of step {step} into {ckpt_root} failed "
                              f"({why}); the previous checkpoint is intact") from None
    keep_names = {final.name, *keep, _pinned_by(ckpt_root, "best.json")}
    for old in [*ckpt_root.glob("step_*"), *ckpt_root.glob(".step_*.tmp")]:
        if old.name not in keep_names:  # older steps, and temporaries of killed saves
            shutil.rmtree(old, ignore_errors=True)
    return final


def pin_best(ckpt_root: Path, ckpt_dir: Path, metric: str, value: float) -> None:
    _atomic_write_text(ckpt_root / "best.json",
                       json.dumps({"dir": ckpt_dir.name, "metric": metric, "value": value}))


def resolve_checkpoint(path: str | Path, which: str = "last") -> Path:
    """A run folder, its checkpoints folder, or one checkpoint folder -> the checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise PixelsmithError(f"no such run or checkpoint: {path}")
    if not path.is_dir():
        raise PixelsmithError(f"{path} is a file, not a run or checkpoint folder")
    if (path / META_FILE).is_file():
        return path
    for root in (path / "checkpoints", path):
        pointer = read_pointer(root, f"{which}.json")
        if pointer is not None:
            ckpt = root / pointer["dir"]
            if not (ckpt / META_FILE).is_file():
                raise PixelsmithError(f"{root / (which + '.json')} points at missing {ckpt}")
            return ckpt
    raise PixelsmithError(
        f"{path} is not a pixelsmith run or checkpoint (no checkpoints/{which}.json or {META_FILE})"
    )


@dataclass
class Checkpoint:
    path: Path
    meta: dict
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None

    @property
    def config(self) -> dict:
        return self.meta["config"]

    @property
    def objective_name(self) -> str:
        """The objective the run trained (restoration, inpainting, gan, vae, ...)."""
        cfg = self.meta.get("config")
        obj = cfg.get("objective") if isinstance(cfg, dict) else None
        name = obj.get("name") if isinstance(obj, dict) else None
        return name if isinstance(name, str) else "unknown"

    def train_state(self) -> dict:
        """Optimizer and RNG states, checked. Never unpickles code: anything that is not a
        tensor or plain data makes loading fail with a clear error."""
        path = self.path / STATE_FILE
        if not path.is_file():
            raise PixelsmithError(f"{path} is missing: this checkpoint holds weights only and "
                                  "cannot be resumed (it can still be sampled or restored)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError,
                TypeError, KeyError, IndexError, UnicodeDecodeError, OSError) as e:
            first = first_line(e, default=type(e).__name__)
            raise PixelsmithError(
                f"{path}: refusing to load: it is not plain tensor data ({first[:160]})"
            ) from None
        check_train_state(state, path, self.meta["step"])
        return state


def check_train_state(state, path: Path, step: int) -> None:
    """The shape of ``train_state.pt``: what the trainer reads from it, of the right types."""
    if not isinstance(state, dict):
        raise PixelsmithError(f"{path}: damaged (a dict was expected, got {_kind(state)})")
    optimizers = _field(state, "optimizers", dict, path)
    if not all(isinstance(v, dict) for v in optimizers.values()):
        raise PixelsmithError(f"{path}: damaged (an optimizer state is not a dict)")
    _field(state, "objective", dict, path, need=False)
    rng = _field(state, "rng", dict, path)
    _field(rng, "batches", dict, path)
    want = torch.get_rng_state()
    for key in ("torch", "cuda"):
        t = rng.get(key)
        if key == "cuda" and t is None:
            continue
        if not (torch.is_tensor(t) and t.dtype == torch.uint8 and t.dim() == 1
                and (key == "cuda" or t.numel() == want.numel())):
            got = (f"{t.dtype} of shape {tuple(t.shape)}" if torch.is_tensor(t)
                   else _kind(t))
            raise PixelsmithError(f"{path}: damaged (the {key} RNG state must be uint8 of "
                                  f"{want.numel()} bytes, got {got})")
    counters = _field(state, "counters", dict, path)
    if _field(counters, "step", int, path, minimum=0) != step:
        raise PixelsmithError(f"{path}: damaged (its step {counters['step']} is not the "
                              f"step {step} of {META_FILE})")
    _field(counters, "images_seen", int, path, minimum=0)


def check_meta(meta: dict, path: Path) -> None:
    """What the loaders read from ``meta.json``: step, config sections, data description."""
    _field(meta, "step", int, path, minimum=0)
    _field(meta, "images_seen", int, path, need=False, minimum=0)
    config = _field(meta, "config", dict, path)
    for section in ("model", "objective", "data", "train"):
        if section in config and not isinstance(config[section], dict):
            raise PixelsmithError(f"{path}: damaged ('config.{section}' must be a dict, "
                                  f"got {_kind(config[section])})")
    data = _field(meta, "data", dict, path)
    _field(data, "num_classes", int, path, minimum=0)


def require_finite(state: dict[str, torch.Tensor], where: Path, what: str = "weights") -> None:
    """Refuse NaN/inf weights: they would sample black images and score as if they were
    a model. Names the first network parameter that is not finite."""
    for key, t in state.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise PixelsmithError(f"{where}: the {what} hold NaN/inf values ({key}); the "
                                  "training diverged before this checkpoint: use an earlier "
                                  "one or retrain with a lower learning rate")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint with its metadata checked; every defect is one line naming the file."""
    ckpt = resolve_checkpoint(path)
    meta = read_json(ckpt / META_FILE)
    check_meta(meta, ckpt / META_FILE)
    try:
        model = load_file(str(ckpt / MODEL_FILE))
        ema = load_file(str(ckpt / EMA_FILE)) if (ckpt / EMA_FILE).exists() else None
    except (OSError, SafetensorError) as e:
        raise PixelsmithError(f"{ckpt}: unreadable checkpoint ({e})") from None
    return Checkpoint(ckpt, meta, model, ema)


def load_nets(nets: dict[str, nn.Module], state: dict[str, torch.Tensor], where: Path) -> None:
    """Load ``<net>.<param>`` tensors into each network, with one-line errors on mismatch."""
    for name, net in nets.items():
        prefix = f"{name}."
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not sub:
            raise PixelsmithError(f"{where}: checkpoint has no weights for network '{name}'")
        own = net.state_dict()
        missing = sorted(set(own) - set(sub))
        unexpected = sorted(set(sub) - set(own))
        shape = [k for k in own if k in sub and own[k].shape != sub[k].shape]
        if missing or unexpected or shape:
            detail = (f"missing {missing[:3]}" if missing else
                      f"unexpected {unexpected[:3]}" if unexpected else
                      f"shape of {shape[0]} is {tuple(sub[shape[0]].shape)}, "
                      f"model wants {tuple(own[shape[0]].shape)}")
            raise PixelsmithError(f"{where}: weights do not fit network '{name}' ({detail})")
        net.load_state_dict(sub)
