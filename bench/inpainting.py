"""Inpainting benchmark: masked input, Telea, Navier-Stokes and trained checkpoints on one
fixed, seeded evaluation set, as Markdown tables (one per mask kind) plus picture grids.

    PYTHONPATH=src python bench/inpainting.py --dataset fashion-mnist [--data-root DIR] \
        --checkpoint runs/inpaint-fmnist [--checkpoint RUN2] [--num 1000] [--coverage 0.25] \
        [--masks center-box,free-form] [--grid docs/images/inpaint-fmnist] [--out FILE.md]

Photographs: ``--photos Kodak24 --crop 256`` scores on the non-overlapping ``--crop`` x
``--crop`` tiles of a standard colour test set instead (Kodak24 and CBSD68 are not in the
BSD432 training pictures of the packaged inpainter), row by row, image by image:

    PYTHONPATH=src python bench/inpainting.py --photos Kodak24 --crop 256 --num 96 \
        --checkpoint inpaint-color --masks free-form,random-boxes --coverage 0.2

``--checkpoint`` also takes a packaged model's name (``pixelsmith models``).

Evaluation images: the first ``--num`` test images when the data set has a test split;
otherwise (CIFAR-10 here, whose test split is not on disk) the LAST ``--num`` training
images -- configs/inpainting/inpaint-cifar10.yaml trains on the first 49,000 only.
Masks: one seeded generator per mask kind, so every row sees the same holes.
Scores on 8-bit images (every output is quantised as it would be when written): PSNR and
SSIM on the hole (metrics/paired.py with the hole as the mask) and on the whole image, and
FID of the inpainted images against the same images' clean originals on the data set's
evaluator features (``n/a (no evaluator)`` when none is cached).
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

import pixelsmith.components  # noqa: F401 - registers data sets, baselines
from pixelsmith.config import DataConfig
from pixelsmith.data.base import load_dataset
from pixelsmith.data.masks import make_mask
from pixelsmith.data.roots import data_root
from pixelsmith.data.transforms import uint8_to_unit, unit_to_uint8
from pixelsmith.errors import PixelsmithError, run_script
from pixelsmith.metrics.paired import psnr, ssim
from pixelsmith.metrics.restoration_protocol import photo_tiles
from pixelsmith.registry import BASELINES
from pixelsmith.restore import inpaint, load_inpainter
from pixelsmith.training.run_log import save_grid

SIZES = {"mnist": (28, 1), "fashion-mnist": (28, 1), "cifar10": (32, 3), "digits": (16, 1)}


def eval_images(cfg: DataConfig, num: int) -> tuple[torch.Tensor, str]:
    """uint8 (num, C, H, W) and where they come from."""
    try:
        test = load_dataset(replace(cfg, split="test"))
        return test.images[:num], f"first {min(num, len(test))} images of the test split"
    except PixelsmithError:
        train = load_dataset(replace(cfg, split="train"))
        return (train.images[-num:], f"last {min(num, len(train))} of {len(train)} train images "
                "(no test split on disk; the shipped config trains without them)")


def photo_crops(set_name: str, root, crop: int, num: int) -> tuple[torch.Tensor, str]:
    """uint8 (num, 3, crop, crop) tiles of a colour test set, and where they come from."""
    tiles = photo_tiles(set_name, data_root(root), crop)
    return (tiles[:num], f"the first {min(num, len(tiles))} of the {len(tiles)} "
            f"non-overlapping {crop}x{crop} tiles of {set_name} (picture by picture, row by row)")


def quantise(x01: torch.Tensor) -> torch.Tensor:
    return uint8_to_unit(unit_to_uint8(x01))  # as written to an 8-bit file


def scores(x01: torch.Tensor, out01: torch.Tensor, mask: torch.Tensor, fid_fn) -> dict:
    a, b, hole = quantise(out01) * 2 - 1, x01 * 2 - 1, 1 - mask
    return {"PSNR hole": psnr(a, b, hole).mean().item(),
            "SSIM hole": ssim(a, b, hole).mean().item(),
            "PSNR all": psnr(a, b).mean().item(), "SSIM all": ssim(a, b).mean().item(),
            "FID": fid_fn(out01)}


def make_fid(cfg: DataConfig, x01: torch.Tensor, device: str):
    """FID vs the clean originals on the evaluator's features, or a function saying n/a."""
    from pixelsmith.metrics.evaluator import load_evaluator
    from pixelsmith.metrics.math import fid_from_features

    try:
        ev = load_evaluator(cfg, device=device)
    except PixelsmithError:
        return (lambda out01: "n/a (no evaluator)"), "none cached"
    real, _ = ev(unit_to_uint8(x01), device=device)
    return (lambda out01: fid_from_features(real, ev(unit_to_uint8(out01), device=device)[0])
            ), ev.name


def load_model(name_or_run: str, device: str, models_dir: Path | None = None):
    """A run or checkpoint; else a packaged inpainter's name (``pixelsmith models``).
    Given ``models_dir`` (bench/zoo_package.py), always a packaged model from there."""
    looks_like_path = Path(name_or_run).exists() or "/" in name_or_run or "\\" in name_or_run
    if models_dir is not None or not looks_like_path:
        from pixelsmith.zoo.loading import find_card, load_pretrained

        card = find_card(name_or_run, models_dir)  # unknown: one line naming the packaged ones
        if card.task != "inpaint":
            raise PixelsmithError(f"packaged model '{name_or_run}' is a {card.task} model, "
                                  "not an inpainter")
        return load_pretrained(name_or_run, device=device, models_dir=models_dir)
    return load_inpainter(name_or_run, device=device)


def batched(fn, y01, mask):
    """fn over batches of about a megapixel (250 small images, 16 tiles of 256 px)."""
    bs = max(1, min(250, 2**20 // (y01.shape[-1] * y01.shape[-2])))
    return torch.cat([fn(y01[i : i + bs], mask[i : i + bs]) for i in range(0, len(y01), bs)])


def main(argv: list[str] | None = None, models_dir: Path | None = None,
         figures: dict | None = None) -> str:
    """Print the tables (and return them as one Markdown text); ``figures``, when given,
    receives the scores as numbers: {mask kind: {method: {"PSNR hole": dB, ...}}}."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="fashion-mnist", choices=sorted(SIZES))
    ap.add_argument("--photos", default=None,
                    help="score on tiles of this colour test set instead (Kodak24, CBSD68)")
    ap.add_argument("--crop", type=int, default=256, help="tile size for --photos, pixels")
    ap.add_argument("--data-root", default=None,
                    help="data root (default: $PIXELSMITH_DATA, else ~/.cache/pixelsmith/data)")
    ap.add_argument("--checkpoint", action="append", default=[], help="a run or checkpoint")
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--masks", default="center-box,free-form")
    ap.add_argument("--coverage", type=float, default=0.25)
    ap.add_argument("--radius", type=float, default=3.0, help="Telea / Navier-Stokes radius")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--grid", default=None, help="path prefix: PREFIX-<mask>.png grids")
    ap.add_argument("--out", default=None, help="also write the Markdown to this file")
    args = ap.parse_args(argv)
    if args.num < 1:
        raise PixelsmithError(f"--num must be at least 1, got {args.num}")

    if args.photos:  # photographs of any size: a fully convolutional model of any input size
        if args.crop < 16:
            raise PixelsmithError(f"--crop must be at least 16 pixels, got {args.crop}")
        size, channels, title = 0, 3, f"{args.photos} photographs"
        images, where = photo_crops(args.photos, args.data_root, args.crop, args.num)
    else:
        size, channels = SIZES[args.dataset]
        title = args.dataset
        cfg = DataConfig(name=args.dataset, root=args.data_root, img_size=size,
                         img_channels=channels)
        images, where = eval_images(cfg, args.num)
    x01 = images.float() / 255  # (N, C, H, W)
    n, _, h, w = x01.shape
    models = [(f"ours: {c}", load_model(c, args.device, models_dir)) for c in args.checkpoint]
    for name, m in models:
        trained = (m.cfg.data.img_channels, m.cfg.data.img_size)
        if trained[0] != channels or (size and trained[1] != size):
            raise PixelsmithError(f"{name} was trained on {m.cfg.data.img_size}px "
                                  f"{m.cfg.data.img_channels}-channel images, not {title}")
    if args.photos:
        fid_fn, feats = (lambda out01: "n/a (photographs)"), "none cached"
    else:
        fid_fn, feats = make_fid(cfg, x01, args.device)
    t0 = time.time()
    lines = [
        f"# Inpainting benchmark: {title}",
        "",
        f"- command: `python bench/inpainting.py "
        f"{shlex.join(sys.argv[1:] if argv is None else argv)}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; device: {args.device} "
        f"({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads); "
        f"torch {torch.__version__}",
        f"- images: {where}, {h}x{w}, {channels} channel(s); coverage {args.coverage:.0%}; "
        f"mask seed {args.seed}; "
        + ("FID: n/a (no evaluator network for photographs)" if args.photos else
           f"FID features: {feats} (FID of {n} inpainted images vs their clean originals; "
           "a small-sample FID, comparable between rows only)" if feats != "none cached" else
           "FID: n/a, no evaluator cached for this data set (pixelsmith evaluator train)"),
        f"- masked input = holes filled with mid-gray; Telea / Navier-Stokes radius "
        f"{args.radius:g} (OpenCV); scores on 8-bit outputs, [0, 255] range",
    ]
    for k, kind in enumerate(args.masks.split(",")):
        gen = torch.Generator().manual_seed(args.seed + k)
        mask = make_mask(kind, coverage=args.coverage)(n, h, w, generator=gen)
        y01 = torch.where(mask.bool(), x01, torch.full_like(x01, 0.5))
        outs = {"masked input (mid-gray)": y01}
        for base in ("telea", "navier-stokes"):
            outs[base] = batched(lambda y, m, b=base: BASELINES.get(b)(y, {"mask": m},
                                                                      radius=args.radius),
                                 y01, mask)
        for name, m in models:
            outs[name] = batched(lambda y, mm, m=m: inpaint(m, y, mm), y01, mask)
        missing = (1 - mask).mean().item()
        lines += ["", f"## {kind} masks ({missing:.1%} of pixels missing on average)", "",
                  "| method | PSNR hole | SSIM hole | PSNR all | SSIM all | FID |",
                  "|---|---|---|---|---|---|"]
        for name, out in outs.items():
            s = scores(x01, out, mask, fid_fn)
            if figures is not None:
                figures.setdefault(kind, {})[name] = s
            fid = s["FID"] if isinstance(s["FID"], str) else f"{s['FID']:.2f}"
            lines.append(f"| {name} | {s['PSNR hole']:.2f} | {s['SSIM hole']:.4f} | "
                         f"{s['PSNR all']:.2f} | {s['SSIM all']:.4f} | {fid} |")
        if args.grid:
            path = Path(f"{args.grid}-{kind}.png")
            ours = outs[models[0][0]] if models else outs["navier-stokes"]
            rows = [y01[:8], ours[:8], outs["telea"][:8], x01[:8]]
            save_grid(torch.cat(rows) * 2 - 1, path, nrow=8)
            label = "ours (first checkpoint)" if models else "navier-stokes (no checkpoint)"
            lines += ["", f"Grid `{path.name}`: rows = masked / {label} / telea / original."]
    lines += ["", f"({time.time() - t0:.0f} s)"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return text


if __name__ == "__main__":
    run_script(main)  # a PixelsmithError: one line, exit 2, like the CLI
