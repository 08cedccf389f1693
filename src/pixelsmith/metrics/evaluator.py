"""Per-data-set evaluators: classifiers pixelsmith trains itself so metrics work offline.

Saved in ``$PIXELSMITH_CACHE/evaluators/<dataset>-<size>-<channels>/`` as
``evaluator.safetensors`` (weights) and ``evaluator.json`` (data set, img size, channels,
held-out accuracy, SHA-256 of the training images and labels, training settings).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import pixelsmith
from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import ImageData, load_dataset
from pixelsmith.data.roots import cache_dir
from pixelsmith.data.transforms import from_uint8
from pixelsmith.devices import bf16_is_fast, uses_bf16
from pixelsmith.errors import PixelsmithError
from pixelsmith.hashing import sha256_file
from pixelsmith.metrics.evaluator_net import EvaluatorNet
from pixelsmith.metrics.features import FeatureExtractor

WEIGHTS, INFO = "evaluator.safetensors", "evaluator.json"
HOLDOUT_MAX = 5000  # held out of train when the data set has no test split (CIFAR-10 here)
FLIP_SETS = frozenset({"cifar10", "fashion-mnist", "image-folder"})  # mirror-safe data sets
# (epochs, width) that reach the targets (docs/benchmarks.md); others get DEFAULT_RECIPE
RECIPES = {"mnist": (1, 16), "fashion-mnist": (10, 16), "cifar10": (30, 64), "digits": (15, 32)}
DEFAULT_RECIPE = (10, 32)
SPLIT_SETS = frozenset({"digits", "mnist", "fashion-mnist", "cifar10"})  # may have a test split


def dataset_tag(cfg: DataConfig) -> str:
    if cfg.name == "image-folder":
        return f"folder-{Path(cfg.root or 'images').resolve().name}"
    return cfg.name


def evaluator_dir(cfg: DataConfig) -> Path:
    return (cache_dir() / "evaluators"
            / f"{dataset_tag(cfg)}-{cfg.img_size}-{cfg.img_channels}")


def tensor_sha256(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def load_test_split(cfg: DataConfig) -> ImageData | None:
    """The whole test split of a standard data set, or None when it has none (image
    folders; CIFAR-10 as an image folder with only train/)."""
    if cfg.name not in SPLIT_SETS:
        return None
    try:
        test = load_dataset(replace(cfg, split="test", max_images=None, download=False))
    except PixelsmithError:
        return None
    return test if len(test) else None


def split_data(cfg: DataConfig) -> tuple[ImageData, ImageData, str]:
    """(train, held-out, description). Uses the test split when the data set has one,
    otherwise a fixed random part of train (at most 5,000 images, 10%)."""
    train = load_dataset(replace(cfg, split="train", labels=True))
    if train.labels is None or train.num_classes < 2:
        raise PixelsmithError(f"data set '{cfg.name}' has no class labels; an evaluator needs "
                              "labelled images (image-folder: one subfolder per class)")
    test = load_test_split(replace(cfg, labels=True))
    if test is not None and test.labels is not None:
        return train, test, "test split"
    n_hold = min(HOLDOUT_MAX, len(train) // 10)
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1234))
    hold, keep = perm[:n_hold], perm[n_hold:]
    pick = lambda idx: ImageData(train.images[idx], train.labels[idx],  # noqa: E731
                                 train.class_names, train.source)
    return pick(keep), pick(hold), f"{n_hold} images held out of train (seed 1234)"


def _augment(x: torch.Tensor, flip: bool, g: torch.Generator) -> torch.Tensor:
    """A random shift per image (reflect-pad by 1/8 of the side, at least 2 px, then crop)
    and, for mirror-safe sets, a random flip per image."""
    n, c, h, w = x.shape
    pad = max(2, h // 8)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=g)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]  # (n, 1, 1, w)
    x = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
               rows, cols]  # (n, c, h, w)
    if flip:
        m = torch.rand(n, generator=g) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    return x


@torch.no_grad()
def accuracy(net: EvaluatorNet, data: ImageData, device: torch.device, bs: int = 500) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(data), bs):
        x = from_uint8(data.images[i : i + bs].to(device))
        correct += int((net(x).argmax(1).cpu() == data.labels[i : i + bs]).sum())
    return correct / max(len(data), 1)


def fit_classifier(train: ImageData, *, img_channels: int, epochs: int = 10,
                   batch_size: int = 128, lr: float = 0.1, width: int = 32,
                   max_steps: int | None = None, flip: bool = False,
                   device: torch.device = torch.device("cpu"), seed: int = 0,
                   bf16: bool | None = None, log=print) -> tuple[EvaluatorNet, int]:
    """Train an EvaluatorNet on labelled uint8 images (SGD with Nesterov momentum and weight
    decay, one-cycle lr, label smoothing, random shifts and flips per image); returns the
    net (in eval mode, fp32) and the number of steps.
    ``bf16=None`` autocasts to bf16 where that is fast (see bf16_is_fast); the weights and
    everything after training stay fp32."""
    torch.manual_seed(seed)
    net = EvaluatorNet(img_channels=img_channels, num_classes=train.num_classes,
                       width=width).to(device, memory_format=torch.channels_last)
    use_bf16 = bf16_is_fast(device) if bf16 is None else bf16
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * epochs if max_steps is None else max_steps
    # SGD rather than AdamW: 83.8 % vs 82.6 % on CIFAR-10 after 5 epochs at width 32
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1))
    g = torch.Generator().manual_seed(seed)
    step, t0 = 0, time.time()
    while step < total:
        net.train()
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), batch_size):
            if step >= total:
                break
            idx = perm[i : i + batch_size]
            x = _augment(from_uint8(train.images[idx]), flip, g).to(device)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = net(x)
            loss = torch.nn.functional.cross_entropy(logits.float(), train.labels[idx].to(device),
                                                     label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0 or step == total:
                spent = time.time() - t0
                epoch = f"{math.ceil(step / steps_per_epoch)}/{math.ceil(total / steps_per_epoch)}"
                log(f"step {step}/{total}  epoch {epoch}  loss {loss.item():.4f}  "
                    f"({spent:.0f}s, ~{spent / step * (total - step) / 60:.0f} min left)")
    return net.eval(), step


def train_evaluator(cfg: DataConfig, *, epochs: int | None = None, batch_size: int = 128,
                    lr: float = 0.1, width: int | None = None, max_steps: int | None = None,
                    out: str | Path | None = None, device: str = "cpu", seed: int = 0,
                    precision: str = "auto", log=print) -> dict:
    """Train, score on held-out images, save weights + JSON; returns the JSON info.
    ``precision``: ``auto`` (bf16 autocast where fast), ``bf16`` or ``fp32``; the held-out
    accuracy is always measured in fp32, as the metrics use the net. ``epochs`` / ``width``
    left out come from the data set's recipe (RECIPES)."""
    from pixelsmith.devices import check_precision, resolve_device

    check_precision(precision, "precision")
    recipe = RECIPES.get(cfg.name, DEFAULT_RECIPE)
    epochs = recipe[0] if epochs is None else epochs
    width = recipe[1] if width is None else width
    dev = resolve_device(device)
    bf16 = uses_bf16(precision, dev)
    train, held, held_desc = split_data(cfg)
    t0 = time.time()
    net, step = fit_classifier(train, img_channels=cfg.img_channels, epochs=epochs,
                               batch_size=batch_size, lr=lr, width=width, max_steps=max_steps,
                               flip=cfg.name in FLIP_SETS, device=dev, seed=seed, bf16=bf16,
                               log=log)
    acc = accuracy(net, held, dev)
    out_dir = Path(out) if out is not None else evaluator_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
              str(out_dir / WEIGHTS))
    info = {
        "dataset": dataset_tag(cfg), "img_size": cfg.img_size, "img_channels": cfg.img_channels,
        "num_classes": train.num_classes, "class_names": train.class_names, "width": width,
        "held_out_accuracy": acc, "held_out": held_desc, "num_held_out": len(held),
        "num_train": len(train), "train_data_sha256": tensor_sha256(train.images, train.labels),
        "train_source": train.source, "epochs": epochs, "steps": step, "batch_size": batch_size,
        "lr": lr, "precision": "bf16" if bf16 else "fp32", "seed": seed, "device": str(dev),
        "seconds": round(time.time() - t0, 1),
        "weights_sha256": sha256_file(out_dir / WEIGHTS),
        "pixelsmith": pixelsmith.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                     time.gmtime()),
    }
    (out_dir / INFO).write_text(json.dumps(info, indent=1))
    return info


class EvaluatorFeatures(FeatureExtractor):
    """A trained evaluator as a feature extractor (penultimate features, softmax)."""

    def __init__(self, folder: str | Path, device: torch.device | str = "cpu"):
        folder = Path(folder)
        try:
            self.info = json.loads((folder / INFO).read_text())
            state = load_file(str(folder / WEIGHTS))
        except (OSError, json.JSONDecodeError, SafetensorError) as e:
            raise PixelsmithError(f"{folder}: unreadable evaluator ({e})") from None
        i = self.info
        self.net = EvaluatorNet(img_channels=i["img_channels"], num_classes=i["num_classes"],
                                width=i["width"])
        self.net.load_state_dict(state)
        self.net.eval().to(device)
        self.name = f"{i['dataset']}-evaluator"
        self.fingerprint = i["weights_sha256"][:16]
        self.num_classes = i["num_classes"]
        self.folder = folder

    def forward(self, x):
        f = self.net.features(x)
        return f, torch.softmax(self.net.head(f), dim=1)


def load_evaluator(cfg: DataConfig, path: str | Path | None = None,
                   device: torch.device | str = "cpu") -> EvaluatorFeatures:
    """The evaluator at ``path``, or the cached one for this data set, size and channels."""
    folder = Path(path) if path is not None else evaluator_dir(cfg)
    if not (folder / WEIGHTS).is_file():
        root = f" --data-root {cfg.root}" if cfg.root else ""
        raise PixelsmithError(
            f"no evaluator at {folder}; train one once with: pixelsmith evaluator train "
            f"--dataset {cfg.name}{root} --img-size {cfg.img_size} "
            f"--channels {cfg.img_channels}")
    ev = EvaluatorFeatures(folder, device)
    if (ev.info["img_size"], ev.info["img_channels"]) != (cfg.img_size, cfg.img_channels):
        raise PixelsmithError(
            f"{folder}: evaluator is for {ev.info['img_size']}px/{ev.info['img_channels']}ch "
            f"images, the model makes {cfg.img_size}px/{cfg.img_channels}ch")
    warn_if_weak(ev, cfg)
    return ev


def weak_accuracy(num_classes: int) -> float:
    """Held-out accuracy below which an evaluator's features say little: halfway between
    chance and perfect (55% for 10 classes). Such features make poor images look close to
    the real ones, so an FID from them is not worth reading."""
    chance = 1 / max(num_classes, 1)
    return chance + (1 - chance) / 2


def warn_if_weak(ev: EvaluatorFeatures, cfg: DataConfig) -> None:
    acc, k = ev.info.get("held_out_accuracy"), ev.num_classes
    if isinstance(acc, (int, float)) and acc < weak_accuracy(k):
        warnings.warn(
            f"the evaluator in {ev.folder} classifies only {acc:.0%} of held-out images right "
            f"(chance {1 / k:.0%}; below {weak_accuracy(k):.0%} its features are too weak for "
            f"FID/KID/IS/PR to mean much): retrain it with `pixelsmith evaluator train "
            f"--dataset {cfg.name}`", stacklevel=2)
