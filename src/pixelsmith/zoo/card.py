"""A packaged model's manifest (its "card"): read, checked, and found by name or by task.

``manifest.json`` keys (all plain JSON; ``bench/zoo_package.py`` writes them):

    name, task (denoise | sr | deblur | inpaint | generate), channels, scale, summary, default
    num_classes                               a conditional generator's classes (else 0)
    weights, sha256, dtype, parameters        the weights file and its fingerprint
    config                                    the run's full training config
    training   {command, config_file, data, data_sha256, steps, images_seen, wall_time_s,
                device, torch, date}
    bench      {protocol, command, date, device, table (markdown), figures {set: {key: dB}}}
               (an inpainter: {"SET MASK-KIND": {"hole": hole PSNR}})
    check      {set, images, seed, sigma | scale | (crop, mask, coverage), psnr: [dB per
               image]}: a few test images the weights must still score (tests/test_zoo.py)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pixelsmith.errors import PixelsmithError

MODELS_DIR = Path(__file__).resolve().parent / "models"
TASKS = ("denoise", "sr", "deblur", "inpaint", "generate")
REQUIRED = {"name": str, "task": str, "channels": int, "scale": int, "summary": str,
            "weights": str, "sha256": str, "parameters": int, "config": dict,
            "training": dict, "bench": dict, "check": dict}


@dataclass(frozen=True)
class ModelCard:
    name: str
    folder: Path
    manifest: dict

    @property
    def task(self) -> str:
        return self.manifest["task"]

    @property
    def channels(self) -> int:
        return self.manifest["channels"]

    @property
    def scale(self) -> int:
        return self.manifest["scale"]

    @property
    def weights_path(self) -> Path:
        return self.folder / self.manifest["weights"]

    @property
    def is_default(self) -> bool:
        return bool(self.manifest.get("default", False))


def read_card(folder: Path) -> ModelCard:
    """The card in ``folder``, its manifest checked key by key (one-line errors)."""
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PixelsmithError(f"{path}: unreadable model manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise PixelsmithError(f"{path}: a model manifest must be a JSON object")
    for key, kind in REQUIRED.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise PixelsmithError(f"{path}: '{key}' must be a {kind.__name__}, got "
                                  f"{manifest.get(key)!r:.60}")
    if manifest["task"] not in TASKS:
        raise PixelsmithError(f"{path}: 'task' must be one of {', '.join(TASKS)}")
    if manifest["name"] != folder.name:
        raise PixelsmithError(f"{path}: 'name' is {manifest['name']!r} but the folder is "
                              f"{folder.name!r}")
    weights = (folder / manifest["weights"]).resolve()
    if weights.parent != folder.resolve():
        raise PixelsmithError(f"{path}: 'weights' must name a file beside the manifest")
    return ModelCard(manifest["name"], folder, manifest)


def list_models(models_dir: Path | None = None) -> list[ModelCard]:
    """Every packaged model, by name."""
    root = MODELS_DIR if models_dir is None else models_dir
    if not root.is_dir():
        return []
    return [read_card(d) for d in sorted(root.iterdir()) if (d / "manifest.json").is_file()]


def find_card(name: str, models_dir: Path | None = None) -> ModelCard:
    cards = list_models(models_dir)
    for card in cards:
        if card.name == name:
            return card
    have = ", ".join(c.name for c in cards) or "none"
    raise PixelsmithError(f"no packaged model named '{name}' (packaged: {have}; "
                          "`pixelsmith models` lists them)")


def pick_model(task: str, channels: int, scale: int = 1,
               models_dir: Path | None = None) -> ModelCard:
    """The packaged model for a task and a picture: its channel count first (a gray model
    for a gray picture), the one marked default among several."""
    fits = [c for c in list_models(models_dir) if c.task == task
            and (task != "sr" or c.scale == scale)]
    same = [c for c in fits if c.channels == channels]
    if not same:  # gray into a colour model: the gray in all channels; colour into a gray
        # model: SR enlarges the luma (as the SR papers), a denoiser each channel
        same = [c for c in fits if c.channels != channels and task in ("denoise", "sr")
                or channels == 1]
    if not same:
        what = f"{task}" + (f" x{scale}" if task == "sr" else "")
        kind = "gray" if channels == 1 else "colour"
        have = ", ".join(f"{c.name} ({c.task}, {c.channels} ch)" for c in list_models(
            models_dir)) or "none"
        raise PixelsmithError(f"no packaged {kind} model for --task {what} (packaged: {have}); "
                              "train one and pass --checkpoint RUN")
    return sorted(same, key=lambda c: (not c.is_default, c.name))[0]
