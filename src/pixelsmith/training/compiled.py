"""``train.compile``: torch.compile the networks in place, and the state a failed first
compiled step is rolled back to (the trainer then trains eagerly, see Trainer._train_step)."""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from pixelsmith.errors import PixelsmithError


def compile_networks(nets: nn.ModuleDict, names: str, mode: str) -> bool:
    """Compile the networks named in ``names`` (comma-separated; "" = all) with
    ``nn.Module.compile``, which keeps the module and its state_dict keys (checkpoints do
    not change). False, with one warning, where torch.compile is unavailable."""
    chosen = [n.strip() for n in names.split(",") if n.strip()] or list(nets)
    unknown = [n for n in chosen if n not in nets]
    if unknown:
        raise PixelsmithError(f"train.compile_nets: no network '{unknown[0]}'; this model "
                              f"has {', '.join(nets)}")
    try:
        for name in chosen:
            nets[name].compile(mode=mode)
    except Exception as e:  # noqa: BLE001 - e.g. no compiler backend on this platform
        uncompile(nets)
        warnings.warn(f"train.compile: torch.compile is unavailable here, training eagerly "
                      f"({type(e).__name__}: {e})", stacklevel=3)
        return False
    return True


def uncompile(nets: nn.ModuleDict) -> None:
    for net in nets.values():
        net._compiled_call_impl = None  # what nn.Module.compile set


def snapshot(tr) -> dict:
    """Everything a training step changes: weights, EMA, optimizers, RNG, data order,
    counters and the running loss sums."""
    return copy.deepcopy({
        "nets": tr.nets.state_dict(), "train": tr._train_state(),
        "ema": None if tr.ema is None else tr.ema.net.state_dict(),
        "sums": tr._sums, "counts": tr._counts})


def restore(tr, snap: dict) -> None:
    tr.nets.load_state_dict(snap["nets"])
    if tr.ema is not None:
        tr.ema.net.load_state_dict(snap["ema"])
    state = snap["train"]
    for phase in tr.phases:
        phase.optimizer.load_state_dict(state["optimizers"][phase.name])
    tr.objective.load_state_dict(state["objective"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"], tr.device)
    tr.batches.load_state_dict(state["rng"]["batches"])
    tr.images_seen = state["counters"]["images_seen"]
    tr._sums, tr._counts = snap["sums"], snap["counts"]
