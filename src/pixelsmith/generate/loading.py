"""The one run loader: a run folder or checkpoint -> networks with their weights, the
objective that samples with them and what the run was trained on. ``sample``, ``export``,
``interpolate``, ``reconstruct``, ``evaluate``, ``restore`` and the inpainter all load
through here; nothing loaded runs code (weights are safetensors, metadata plain JSON)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from pixelsmith.config import Config, apply_overrides
from pixelsmith.config.resolve import config_from_dict, upgrade_config
from pixelsmith.data.base import DataInfo
from pixelsmith.devices import resolve_device
from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.objectives import Objective
from pixelsmith.registry import OBJECTIVES
from pixelsmith.training.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_nets,
    require_finite,
)


@dataclass
class LoadedModel:
    cfg: Config
    meta: dict
    objective: Objective
    net: nn.Module  # the sampling network in eval mode, EMA weights when the run kept them
    path: Path  # the checkpoint folder
    used_ema: bool


def load_model(run_or_ckpt: str | Path | Checkpoint, *, device: str = "auto",
               use_ema: bool = True, overrides: list[str] = ()) -> LoadedModel:
    """Rebuild a run's networks from a checkpoint (weights only; no code is loaded): a run
    folder, a checkpoint folder or an already loaded ``Checkpoint``. ``overrides``
    (``["objective.KEY=VALUE"]``, as ``--set``) change how it samples, not its weights."""
    ckpt = run_or_ckpt if isinstance(run_or_ckpt, Checkpoint) else load_checkpoint(run_or_ckpt)
    try:
        cfg = config_from_dict(upgrade_config(ckpt.config))
    except PixelsmithError as e:
        raise PixelsmithError(f"{ckpt.path}: config in checkpoint is not usable: {e}") from None
    if overrides:  # errors name the key given, as for a config file
        require_sampling_options(cfg, overrides, ckpt.path)
        cfg = config_from_dict(apply_overrides(upgrade_config(ckpt.config), list(overrides)))
    dev = resolve_device(device)
    info = DataInfo.of(cfg.data, ckpt.meta["data"]["num_classes"])
    nets = build_model(cfg.model, img_size=info.img_size, img_channels=info.img_channels,
                       num_classes=info.num_classes)
    shipped = ckpt.meta.get("weights_of")  # a packaged model holds its output network only
    if shipped is not None and not set(shipped) <= set(nets):
        raise PixelsmithError(f"{ckpt.path}: weights of {', '.join(sorted(shipped))} do not "
                              f"fit a '{cfg.model.name}' model (networks: {', '.join(nets)})")
    load_nets({k: v for k, v in nets.items() if shipped is None or k in shipped}, ckpt.model,
              ckpt.path)
    require_finite(ckpt.model, ckpt.path)  # NaN weights: black images scored as a model
    objective = OBJECTIVES.get(cfg.objective.name)(cfg.objective, nets.to(dev), info, dev)
    # where training stood: anything the objective derives from the step (a fade-in,
    # the current resolution) is what the checkpoint was trained at
    objective.begin_step(int(ckpt.meta.get("step") or 0), int(ckpt.meta.get("images_seen") or 0))
    name = objective.sample_module
    if shipped is not None and name not in shipped:
        raise PixelsmithError(f"{ckpt.path}: the weights hold no '{name}', the network this "
                              f"'{cfg.objective.name}' model draws its outputs with")
    used_ema = use_ema and ckpt.ema is not None
    if used_ema:
        load_nets({name: nets[name]}, ckpt.ema, ckpt.path)
        require_finite(ckpt.ema, ckpt.path, "EMA weights")
    return LoadedModel(cfg, ckpt.meta, objective, nets[name].eval(), ckpt.path, used_ema)


# the sampling options of the CLI and the family that has each (its objective's key)
SAMPLING_OPTIONS = {"truncation": ("--truncation", "GANs"),
                    "sampler": ("--sampler", "diffusion models"),
                    "sample_steps": ("--steps", "diffusion models"),
                    "guidance": ("--guidance", "diffusion models"),
                    "eta": ("--eta", "diffusion models"),
                    "sample_precision": ("--precision", "diffusion models")}


def sampling_settings(model: LoadedModel) -> dict:
    """How a loaded model draws its samples, where it has such settings (a GAN's
    truncation; a diffusion model's sampler, steps, guidance, eta and precision): part of an
    evaluation's protocol, since the same weights score differently under each."""
    objective = model.cfg.objective
    settings = {k: getattr(objective, k) for k in SAMPLING_OPTIONS if hasattr(objective, k)}
    if settings.get("sample_precision") == "auto":  # what it ran in here, not what was asked
        settings["sample_precision"] = "bf16" if model.objective.sample_bf16() else "fp32"
    return settings


def require_sampling_options(cfg: Config, overrides, path) -> None:
    """A sampling option given to a model that has none such is one line that says which
    models take it, not an unknown-key error about the run's objective."""
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        section, _, name = key.partition(".")
        if section == "objective" and name in SAMPLING_OPTIONS \
                and not hasattr(cfg.objective, name):
            flag, family = SAMPLING_OPTIONS[name]
            raise PixelsmithError(f"{path}: {flag} applies to {family}; this run is a "
                                  f"'{cfg.model.name}' model (objective "
                                  f"'{cfg.objective.name}')")


def truncation_overrides(truncation: float | None) -> list[str]:
    """``--truncation T`` as the sampling override it is (``objective.truncation``, which
    GAN objectives have); None: no override."""
    if truncation is None:
        return []
    if not truncation > 0:
        raise PixelsmithError(f"--truncation must be a number > 0, got {truncation}")
    return [f"objective.truncation={truncation}"]


def require_objective(model: LoadedModel, name: str, message: str) -> LoadedModel:
    """``model`` when it was trained with objective ``name``; else ``message`` (formatted
    with ``path`` and ``have``, the objective it has) as a one-line error."""
    have = model.cfg.objective.name
    if have != name:
        raise PixelsmithError(message.format(path=model.path, have=have))
    return model


def run_or_packaged(run, model: str | None):
    """What ``sample`` / ``interpolate`` / ``export`` load: the run folder given, or with
    ``--model NAME`` the packaged generator of that name (``pixelsmith models``) as a
    checkpoint."""
    if (run is None) == (model is None):
        raise PixelsmithError("give a run folder or --model NAME (a packaged generator, "
                              "`pixelsmith models` lists them)" if run is None else
                              "give a run folder or --model NAME, not both")
    if model is None:
        return run
    from pixelsmith.zoo.card import find_card
    from pixelsmith.zoo.loading import card_checkpoint

    card = find_card(model)
    if card.task != "generate":
        raise PixelsmithError(f"packaged model '{model}' is a {card.task} model, not an image "
                              f"generator; use `pixelsmith restore --model {model}`")
    return card_checkpoint(card)
