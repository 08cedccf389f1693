"""Turn a finished training run into a packaged model: float16 weights of the sampling
network (EMA when the run kept it) and a manifest saying how it was made and what it
scored. ``bench/zoo_package.py`` is the command; the package ships what it writes."""

from __future__ import annotations

import copy
import datetime
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from pixelsmith.data.manifest import group_sha256, load_manifest, unpack_group
from pixelsmith.devices import describe_device
from pixelsmith.errors import PixelsmithError
from pixelsmith.hashing import sha256_file
from pixelsmith.training.checkpoint import load_checkpoint


def data_sha256(name: str) -> str | None:
    """The known copy's digest of a standard data set (``pixelsmith data check`` compares a
    data root against the same list): SHA-256 over its files' names and SHA-256 prefixes."""
    known = load_manifest()
    entry = known["sets"].get(name)
    if entry is None:
        return None
    pairs = {}
    for folder, group in sorted(entry["files"].items()):
        files = group if "prefixes" not in group else unpack_group(group, known["prefix_bytes"])
        pairs.update({f"{folder}/{k}": v for k, v in files.items()})
    return group_sha256(pairs)


def wall_time(run: Path) -> float | None:
    """Seconds of training the run logged: ``metrics.jsonl``'s ``time`` counts from each
    start, so a run resumed N times is the sum of N + 1 segments."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return None
    total, last = 0.0, 0.0
    for line in path.read_text(errors="replace").splitlines():
        try:
            t = float(json.loads(line)["time"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn or foreign line
        if t < last:  # a new segment (resume) starts
            total += last
        last = t
    return round(total + last, 1)


BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked", "weight_u", "weight_v")


def write_weights(run: Path, folder: Path) -> tuple[dict, int]:
    """The run's sampling network in float16 -> ``folder/weights.safetensors``; returns
    the run's meta and the parameter count."""
    import pixelsmith.components  # noqa: F401 - registers the objectives
    from pixelsmith.registry import OBJECTIVES

    ckpt = load_checkpoint(run)
    # the network the objective makes its outputs with: restorer, generator, vae, denoiser
    name = OBJECTIVES.get(ckpt.objective_name).sample_module
    src = ckpt.ema if ckpt.ema is not None else ckpt.model
    state = {k: v.to(torch.float16).contiguous() for k, v in src.items()
             if k.startswith(f"{name}.")}
    if not state:
        raise PixelsmithError(f"{ckpt.path} holds no '{name}' network to package")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "weights.safetensors.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, folder / "weights.safetensors")
    # buffers ship too (batch-norm statistics, spectral-norm vectors) but are not parameters
    return ckpt.meta, sum(v.numel() for k, v in state.items() if not k.endswith(BUFFER_SUFFIXES))


def training_record(run: Path, meta: dict, command: str, package_command: str,
                    config_file: str) -> dict:
    data_name = meta["config"]["data"]["name"]
    return {"command": command, "package_command": package_command,
            "config_file": config_file, "data": data_name,
            "data_sha256": data_sha256(data_name), "steps": meta.get("step"),
            "images_seen": meta.get("images_seen"), "wall_time_s": wall_time(run),
            "device": describe_device("cpu"), "torch": torch.__version__,
            "date": f"{datetime.date.today()}"}


def write_manifest(folder: Path, manifest: dict) -> None:
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "manifest.json")


def package_run(run: Path, folder: Path, *, task: str, channels: int, scale: int,
                summary: str, command: str, package_command: str, config_file: str,
                default: bool) -> dict:
    """Weights and a first manifest (bench and check still empty) in ``folder``."""
    if folder.exists() and not (folder / "manifest.json").is_file():
        shutil.rmtree(folder)  # a half-written package from an interrupted run
    meta, params = write_weights(run, folder)
    config = copy.deepcopy(meta["config"])
    if config.get("objective", {}).get("sample_precision", "fp32") != "fp32":
        # the check values are fp32's on every machine; bf16 stays a --precision away
        config["objective"]["sample_precision"] = "fp32"
    manifest = {
        "name": folder.name, "task": task, "channels": channels, "scale": scale,
        "summary": summary, "default": default, "weights": "weights.safetensors",
        "sha256": sha256_file(folder / "weights.safetensors"), "dtype": "float16",
        "parameters": params, "config": config,
        "num_classes": int(meta.get("data", {}).get("num_classes") or 0),
        "training": training_record(run, meta, command, package_command, config_file),
        "bench": {}, "check": {},
    }
    write_manifest(folder, manifest)
    return manifest
