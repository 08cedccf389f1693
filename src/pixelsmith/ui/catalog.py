"""What the app can show and use: the run folders under ``--runs`` and the packaged models,
and the models loaded from them, each loaded once (and again when its run saved a newer
checkpoint).

A run is named by its folder relative to the runs folder (``gan/dcgan``); what it does is
read from its ``config.yaml`` without loading any weights, so listing a folder of many
runs is cheap.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import yaml

from pixelsmith.errors import PixelsmithError

MAX_DEPTH = 3  # runs/<group>/<run>/ at most: deeper folders are a run's own files
SKIP = {"checkpoints", "samples", "tensorboard"}  # a run's own folders, never runs themselves
RUN_PREFIX = "run: "  # the pickers offer trained runs as "run: NAME", packaged models by name
FILLS_BY_SAMPLING = ("diffusion",)  # generators that also inpaint (RePaint), as restore does


@dataclass(frozen=True)
class RunEntry:
    name: str  # the folder relative to the runs folder ("." for the runs folder itself)
    path: Path
    objective: str  # gan, vae, restoration, inpainting, ... ("unknown" when unreadable)
    task: str  # denoise / sr / deblur for restoration runs, inpaint for inpainting, else ""
    has_checkpoint: bool

    @property
    def makes_images(self) -> bool:
        """A generator (samples from noise), as opposed to a model that mends pictures."""
        from pixelsmith.registry import OBJECTIVES

        try:
            return bool(OBJECTIVES.get(self.objective).makes_images)
        except PixelsmithError:
            return False


def _read_config(path: Path) -> dict:
    try:
        cfg = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _entry(root: Path, path: Path) -> RunEntry:
    from pixelsmith.objectives.restoration import TASKS

    cfg = _read_config(path)
    obj = cfg.get("objective") if isinstance(cfg.get("objective"), dict) else {}
    name = obj.get("name") if isinstance(obj.get("name"), str) else "unknown"
    task = ""
    if name == "restoration":
        deg = obj.get("degradation")
        task = TASKS.get(deg.get("name"), "denoise") if isinstance(deg, dict) else "denoise"
    elif name == "inpainting":
        task = "inpaint"
    rel = path.relative_to(root).as_posix() if path != root else "."
    return RunEntry(rel, path, name, task, (path / "checkpoints" / "last.json").is_file())


def find_runs(root: str | Path) -> list[RunEntry]:
    """Every run folder (one holding ``config.yaml``) under ``root``, by name."""
    root = Path(root)
    if not root.is_dir():
        raise PixelsmithError(f"--runs {root} is not a folder")
    found = []

    def walk(folder: Path, depth: int) -> None:
        if (folder / "config.yaml").is_file():
            found.append(_entry(root, folder))
            return
        if depth >= MAX_DEPTH:
            return
        try:
            subs = sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in SKIP
                          and not p.name.startswith("."))
        except OSError:  # a folder we may not read: nothing to show from it
            return
        for sub in subs:
            walk(sub, depth + 1)

    walk(root, 0)
    return sorted(found, key=lambda e: e.name)


def find_run(root: str | Path, name: str) -> RunEntry:
    """The run called ``name`` under ``root``: one-line error naming the ones there are."""
    if not name:
        raise PixelsmithError("choose a run first")
    runs = find_runs(root)
    for e in runs:
        if e.name == name:
            return e
    have = ", ".join(e.name for e in runs) or "none"
    raise PixelsmithError(f"no run '{name}' under {root} (runs there: {have})")


@dataclass(frozen=True)
class Choice:
    """One entry of a model picker, resolved: a trained run or a packaged model."""

    run: RunEntry | None  # the run, when the entry names one
    packaged: str | None  # else the packaged model's name


def resolve_choice(root: str | Path, name: str, *, plain_runs: bool = False) -> Choice:
    """What a picker entry names. ``run: NAME`` is the run NAME under ``root`` (one-line
    error when there is none); another name is a packaged model. With ``plain_runs`` a bare
    name that is no packaged model may name a run folder (library callers name runs bare);
    a packaged model wins, since its run of the same name is still ``run: NAME``."""
    if not name:
        raise PixelsmithError("choose a model first")
    if name.startswith(RUN_PREFIX):
        return Choice(find_run(root, name[len(RUN_PREFIX):]), None)
    if plain_runs and name not in packaged_names():
        return Choice(find_run(root, name), None)
    return Choice(None, name)


def packaged_names(task: str | None = None) -> list[str]:
    """The packaged models (``pixelsmith models``), those doing ``task`` when given."""
    from pixelsmith.zoo import list_models

    return [c.name for c in list_models() if task is None or c.task == task]


def model_choices(root: str | Path, task: str) -> list[str]:
    """The models that do ``task`` (denoise, sr, deblur, inpaint): the packaged ones by
    name, then the trained runs under ``root`` as ``run: NAME`` (for inpaint also the
    diffusion runs, which fill holes by RePaint)."""
    packaged = packaged_names(task)
    runs = [RUN_PREFIX + e.name for e in find_runs(root) if e.has_checkpoint and (
        e.task == task or task == "inpaint" and e.objective in FILLS_BY_SAMPLING)]
    return packaged + runs


class ModelCache:
    """Loaded models by (what, options), a few at a time. A run is looked up by its current
    checkpoint folder, so a run that trains on is reloaded when it saves a newer one."""

    def __init__(self, size: int = 4, device: str = "auto"):
        self.size, self.device = size, device
        self.models: OrderedDict[tuple, object] = OrderedDict()

    def get(self, key: tuple, load):
        if key in self.models:
            self.models.move_to_end(key)
            return self.models[key]
        model = load()
        self.models[key] = model
        while len(self.models) > self.size:
            self.models.popitem(last=False)
        return model

    def generator(self, run: Path, *, use_ema: bool = True, overrides: tuple[str, ...] = ()):
        """A run's generator (``generate.load_model``), EMA weights when kept; ``overrides``
        (``objective.KEY=VALUE``) change how it samples, as on the command line."""
        from pixelsmith.generate import load_model
        from pixelsmith.training.checkpoint import resolve_checkpoint

        ckpt = resolve_checkpoint(run)
        return self.get(("generator", ckpt.resolve(), use_ema, tuple(overrides)),
                        lambda: load_model(ckpt, device=self.device, use_ema=use_ema,
                                           overrides=list(overrides)))

    def packaged_generator(self, name: str, *, overrides: tuple[str, ...] = ()):
        """A packaged generator (``pixelsmith models``) as ``generate.load_model`` gives a
        run's, sampling as ``overrides`` say (its weights are the EMA ones already)."""
        from pixelsmith.generate import load_model
        from pixelsmith.zoo import find_card
        from pixelsmith.zoo.loading import card_checkpoint

        card = find_card(name)
        if card.task != "generate":
            raise PixelsmithError(f"packaged model '{name}' is a {card.task} model: it mends "
                                  "pictures rather than drawing new ones (use the Restore or "
                                  "Inpaint tab)")
        return self.get(("packaged", name, tuple(overrides)),
                        lambda: load_model(card_checkpoint(card), device=self.device,
                                           overrides=list(overrides)))

    def restorer(self, root: Path, choice: str):
        """A ``Restorer`` or an inpainter's ``LoadedModel`` for a ``model_choices`` entry."""
        from pixelsmith.restore import load_inpainter, load_restorer
        from pixelsmith.training.checkpoint import resolve_checkpoint
        from pixelsmith.zoo import find_card, load_pretrained

        entry = resolve_choice(root, choice).run
        if entry is not None:
            ckpt = resolve_checkpoint(entry.path)
            fills = entry.task == "inpaint" or entry.objective in FILLS_BY_SAMPLING
            load = load_inpainter if fills else load_restorer
            return self.get(("run", ckpt.resolve()), lambda: load(ckpt, device=self.device))
        card = find_card(choice)  # one-line error listing the packaged names
        return self.get(("packaged", card.name),
                        lambda: load_pretrained(card.name, device=self.device))
