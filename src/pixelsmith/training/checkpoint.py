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
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from pixelsmith.errors import PixelsmithError

MODEL_FILE, EMA_FILE, STATE_FILE, META_FILE = (
    "model.safetensors", "ema.safetensors", "train_state.pt", "meta.json",
)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    """Write ``step_<step>`` atomically, point ``last.json`` at it, drop older unpinned ones."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"step_{step:07d}"
    tmp = ckpt_root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(nets_state(nets), str(tmp / MODEL_FILE))
    if ema is not None:
        save_file(nets_state({ema_name: ema}), str(tmp / EMA_FILE))
    torch.save(train_state, tmp / STATE_FILE)
    (tmp / META_FILE).write_text(json.dumps({"step": step, **meta}, indent=1))
    if final.exists():  # same step saved twice (e.g. resumed and stopped at once)
        shutil.rmtree(final)
    os.rename(tmp, final)
    _atomic_write_text(ckpt_root / "last.json", json.dumps({"dir": final.name, "step": step}))
    pinned = {final.name, *keep, *(_pointer(ckpt_root, p) for p in ("best.json",))}
    for old in ckpt_root.glob("step_*"):
        if old.name not in pinned:
            shutil.rmtree(old, ignore_errors=True)
    return final


def pin_best(ckpt_root: Path, ckpt_dir: Path, metric: str, value: float) -> None:
    _atomic_write_text(ckpt_root / "best.json",
                       json.dumps({"dir": ckpt_dir.name, "metric": metric, "value": value}))


def _pointer(ckpt_root: Path, name: str) -> str | None:
    path = ckpt_root / name
    if not path.is_file():
        return None
    return json.loads(path.read_text())["dir"]


def resolve_checkpoint(path: str | Path, which: str = "last") -> Path:
    """A run folder, its checkpoints folder, or one checkpoint folder -> the checkpoint folder."""
    path = Path(path)
    if not path.exists():
        raise PixelsmithError(f"no such run or checkpoint: {path}")
    if (path / META_FILE).is_file():
        return path
    for root in (path / "checkpoints", path):
        name = _pointer(root, f"{which}.json")
        if name is not None:
            ckpt = root / name
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
        """Optimizer and RNG states. Never unpickles code: anything that is not a tensor
        or plain data makes loading fail with a clear error."""
        path = self.path / STATE_FILE
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise PixelsmithError(
                f"{path}: refusing to load: it is not plain tensor data ({first[:160]})"
            ) from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    ckpt = resolve_checkpoint(path)
    try:
        meta = json.loads((ckpt / META_FILE).read_text())
        model = load_file(str(ckpt / MODEL_FILE))
        ema = load_file(str(ckpt / EMA_FILE)) if (ckpt / EMA_FILE).exists() else None
    except (OSError, json.JSONDecodeError, SafetensorError) as e:
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
