"""Restoration benchmark: PSNR / SSIM tables computed the way the papers do, beside the
published numbers. ``bench/restoration.py`` is its command line:

    python bench/restoration.py [--data-root DIR] \
        [--sets Set12,BSD68,CBSD68,Kodak24,Set5,Set14] [--sigmas 15,25,50] [--scales 2,3,4] \
        [--baselines gaussian-filter,median-filter,bicubic,bm3d] [--checkpoint RUN ...] \
        [--model PACKAGED_NAME ...] [--blind] \
        [--tile 0] [--overlap 32] [--max-images N] [--out table.md]

Protocol (say it with every number):
- denoising: clean x = the 8-bit test image on [0, 1]; y = x + sigma/255 * n with n drawn
  from one generator seeded with --seed per (set, sigma), images in file order; y is NOT
  clipped and NOT quantised (the DnCNN/DRUNet convention). Gray sets (Set12, BSD68) for gray
  models, colour sets (CBSD68, Kodak24) for colour models; other pairs are skipped.
- super-resolution: HR cropped to a multiple of the scale, LR = restore-train's
  ``bicubic-down`` (torch antialiased bicubic, close to but not MATLAB imresize), LR kept in
  float; outputs scored on the 8-bit BT.601 Y channel of both sides (MATLAB rgb2ycbcr on
  uint8; a gray image is its own Y) with ``scale`` pixels shaved
  (``restoration_protocol.sr_scores``).
- every restored image is rounded to 8 bits before scoring (as saving a PNG); the noisy
  input row is scored as it is. PSNR/SSIM on [0, 255], averaged over the images of a set.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import pixelsmith.restore  # noqa: F401 - registers the classical baselines
from pixelsmith.data.degradations import crop_to_multiple, make_degradation
from pixelsmith.data.roots import data_root
from pixelsmith.devices import describe_device
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.restoration_protocol import (
    TEST_SETS,
    load_test_set,
    psnr255,
    quantise,
    rgb_to_y,
    sr_scores,
    ssim255,
)
from pixelsmith.registry import BASELINES
from pixelsmith.restore.tiling import DEFAULT_OVERLAP

DENOISE_SETS = ("Set12", "BSD68", "CBSD68", "Kodak24")
SR_SETS = ("Set5", "Set14")
DENOISE_BASELINES = ("gaussian-filter", "median-filter", "bm3d")
SR_BASELINES = ("bicubic",)

# Published PSNR (dB), typed in from the papers named beside each row.
DNCNN = "Zhang et al., DnCNN, TIP 2017"
DPIR = "Zhang et al., DPIR/DRUNet, TPAMI 2021"
PUBLISHED_DENOISE = {  # set -> method -> {sigma: PSNR}, source
    "Set12": {"BM3D": ({15: 32.37, 25: 29.97, 50: 26.72}, f"{DNCNN}; {DPIR}"),
              "DnCNN-S": ({15: 32.86, 25: 30.44, 50: 27.18}, DNCNN),
              "DRUNet": ({15: 33.25, 25: 30.94, 50: 27.90}, DPIR)},
    "BSD68": {"BM3D": ({15: 31.07, 25: 28.57, 50: 25.62}, DNCNN),
              "DnCNN-S": ({15: 31.73, 25: 29.23, 50: 26.23}, DNCNN),
              "DRUNet": ({15: 31.91, 25: 29.48, 50: 26.59}, DPIR)},
    "CBSD68": {"CBM3D": ({15: 33.52, 25: 30.71, 50: 27.38}, DPIR),
               "DnCNN (colour)": ({15: 33.90, 25: 31.24, 50: 27.95}, DPIR)},
}
SRCNN = "Dong et al., SRCNN, TPAMI 2016"
PUBLISHED_SR = {  # set -> method -> {scale: Y-PSNR}, source
    "Set5": {"bicubic (MATLAB imresize)": ({2: 33.66, 3: 30.39, 4: 28.42}, SRCNN),
             "SRCNN": ({2: 36.66, 3: 32.75, 4: 30.49}, SRCNN),
             "EDSR": ({2: 38.11, 4: 32.46}, "Lim et al., EDSR, CVPRW 2017")},
}

Method = Callable[[torch.Tensor, dict], torch.Tensor]


def _csv(text: str, cast=str) -> list:
    return [cast(t.strip()) for t in text.split(",") if t.strip()]


def _device_line(device: torch.device) -> str:
    return describe_device(device)


def _checkpoint_methods(paths: list[str], device: str, tile: int, overlap: int,
                        packaged: list[str] = (), models_dir: Path | None = None) -> list:
    """[(label, restorer)] for every --checkpoint and every packaged --model, loaded once."""
    from pixelsmith.restore.restorer import load_restorer
    from pixelsmith.zoo import load_pretrained

    out = []
    for p, is_packaged in [(p, False) for p in paths] + [(m, True) for m in packaged]:
        r = (load_pretrained(p, device=device, models_dir=models_dir) if is_packaged
             else load_restorer(p, device=device))
        name, params = r.degradation
        shown = ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)
        where = f"packaged `{p}`" if is_packaged else f"`{Path(p).name}`"
        out.append((f"{where} ({r.cfg.model.name}, trained on {name} {shown})", r))
    return out


def _run_restorer(r, y01: torch.Tensor, sigma, tile: int, overlap: int) -> torch.Tensor:
    if tile:  # big images in overlapping tiles, blended (restore-train's tiled_apply)
        return r.restore_image(y01[0], tile=tile, overlap=overlap, sigma=sigma)[None]
    return r(y01, sigma=sigma).cpu()


def _mean(v: list[float]) -> float:
    return sum(v) / len(v)


def denoise_table(set_name: str, images, sigmas: list[int], baselines: list[str],
                  ckpts: list, args, figures: dict | None = None) -> tuple[list[str], list[str]]:
    """Markdown lines of one denoising table, and notes on skipped checkpoints; ``figures``
    receives {method: {"σ=15": PSNR, ...}}."""
    channels = TEST_SETS[set_name]
    methods: dict[str, Method] = {}
    for b in baselines:
        methods[b] = lambda y, known, fn=BASELINES.get(b): fn(y, known)
    notes = []
    for label, r in ckpts:
        if r.task != "denoise" or r.img_channels != channels:
            kind = "gray" if channels == 1 else "colour"
            notes.append(f"{label} not run on {set_name} ({kind} denoising): a "
                         f"{r.img_channels}-channel {r.task} model")
            continue
        methods[label] = (lambda y, known, r=r: _run_restorer(r, y, known["sigma"], args.tile,
                                                                args.overlap))
        if args.blind and r.reads_sigma:  # the same model not told: σ estimated per image
            methods[f"{label}, σ estimated"] = (
                lambda y, known, r=r: _run_restorer(r, y, None, args.tile, args.overlap))
    rows: dict[str, dict[int, tuple[float, float]]] = {"noisy input y (unclipped)": {}}
    secs: dict[str, float] = {}
    for sigma in sigmas:
        deg = make_degradation("gaussian-noise", sigma=sigma)
        g = torch.Generator().manual_seed(args.seed)
        scores: dict[str, list[tuple[float, float]]] = {}
        for t in images:
            x = t.image[None].to(torch.float32) / 255  # (1, C, H, W) in [0, 1]
            y, known = deg(x, generator=g)
            ref = x.double() * 255
            scores.setdefault("noisy input y (unclipped)", []).append(
                (psnr255(y * 255, ref).item(), ssim255(y.double() * 255, ref).item()))
            for label, fn in methods.items():
                t0 = time.perf_counter()
                out = quantise(fn(y, known))
                secs[label] = secs.get(label, 0.0) + time.perf_counter() - t0
                scores.setdefault(label, []).append(
                    (psnr255(out, ref).item(), ssim255(out, ref).item()))
        for label, v in scores.items():
            rows.setdefault(label, {})[sigma] = (_mean([a for a, _ in v]),
                                                 _mean([b for _, b in v]))
        print(f"  {set_name} sigma={sigma} done", file=sys.stderr, flush=True)
    if figures is not None:
        for label, cells in rows.items():
            figures[label] = {f"σ={s}": round(cells[s][0], 2) for s in sigmas}
    n_runs = len(images) * len(sigmas)
    head = ["method"] + [f"σ={s}" for s in sigmas] + ["s / image"]
    lines = [f"### {set_name} ({len(images)} images, {'gray' if channels == 1 else 'colour'}), "
             "PSNR dB / SSIM", "", _md_row(head), _md_row(["---"] * len(head))]
    for label, cells in rows.items():
        t = f"{secs[label] / n_runs:.2f}" if label in secs else "—"
        lines.append(_md_row([label] + [f"{cells[s][0]:.2f} / {cells[s][1]:.4f}"
                                        for s in sigmas] + [t]))
    for method, (vals, src) in PUBLISHED_DENOISE.get(set_name, {}).items():
        cells = [f"{vals[s]:.2f} / —" if s in vals else "—" for s in sigmas]
        lines.append(_md_row([f"{method}, published ({src})"] + cells + ["—"]))
    return lines, notes


def sr_table(set_name: str, images, scales: list[int], baselines: list[str], ckpts: list,
             args, figures: dict | None = None) -> tuple[list[str], list[str]]:
    """Markdown lines of one super-resolution table (Y channel, scale px shaved); ``figures``
    receives {method: {"×2": PSNR, ...}}."""
    rows: dict[str, dict[int, tuple[float, float]]] = {}
    secs: dict[str, float] = {}
    notes: list[str] = []
    counted: dict[str, int] = {}
    for s in scales:
        deg = make_degradation("bicubic-down", scale=s)
        g = torch.Generator().manual_seed(args.seed)
        methods: dict[str, Callable] = {}
        for b in baselines:
            methods[b] = lambda lr, known, fn=BASELINES.get(b): (fn(lr, known), False)
        for label, r in ckpts:
            if r.task != "sr" or r.scale != s:
                if s == scales[0]:
                    notes.append(f"{label} not run on {set_name}: a {r.task} model"
                                 + (f" for x{r.scale}" if r.task == "sr" else ""))
                continue
            methods[label] = lambda lr, known, r=r: sr_with(r, lr, args.tile, args.overlap)
        scores: dict[str, list[tuple[float, float]]] = {}
        for t in images:
            hr = crop_to_multiple(t.image[None].to(torch.float32) / 255, s)  # (1, C, sH, sW)
            lr, known = deg(hr, generator=g)
            for label, fn in methods.items():
                t0 = time.perf_counter()
                out, is_luma = fn(lr, known)
                secs[label] = secs.get(label, 0.0) + time.perf_counter() - t0
                counted[label] = counted.get(label, 0) + 1
                p, q = sr_scores(out, hr, s, sr_luma=is_luma)
                scores.setdefault(label, []).append((p.item(), q.item()))
        for label, v in scores.items():
            rows.setdefault(label, {})[s] = (_mean([a for a, _ in v]), _mean([b for _, b in v]))
        print(f"  {set_name} x{s} done", file=sys.stderr, flush=True)
    if figures is not None:
        for label, cells in rows.items():
            figures[label] = {f"×{s}": round(cells[s][0], 2) for s in scales if s in cells}
    head = ["method"] + [f"×{s}" for s in scales] + ["s / image"]
    lines = [f"### {set_name} ({len(images)} images), Y-channel PSNR dB / SSIM, "
             "scale px shaved", "", _md_row(head), _md_row(["---"] * len(head))]
    for label, cells in rows.items():
        lines.append(_md_row([label] + [f"{cells[s][0]:.2f} / {cells[s][1]:.4f}" if s in cells
                                        else "—" for s in scales]
                             + [f"{secs[label] / counted[label]:.2f}"]))
    for method, (vals, src) in PUBLISHED_SR.get(set_name, {}).items():
        cells = [f"{vals[s]:.2f} / —" if s in vals else "—" for s in scales]
        lines.append(_md_row([f"{method}, published ({src})"] + cells + ["—"]))
    return lines, notes


def sr_with(r, lr01: torch.Tensor, tile: int = 0, overlap: int = 0) -> tuple[torch.Tensor, bool]:
    """A checkpoint's output on [0, 1] and whether it is a full-range luma (see
    ``restoration_protocol.y8``). A gray model on a colour image reads the full-range BT.601
    luma (what it was trained on: Pillow's "L" of the photographs); a colour model reads a
    gray image repeated into RGB and its output is averaged back to gray. ``tile``: 0 runs
    whole images."""
    c = lr01.shape[1]
    if r.img_channels == c:
        return _run_restorer(r, lr01, None, tile, overlap), False
    if r.img_channels == 1:  # SRCNN's way: super-resolve the luma only
        luma = ((rgb_to_y(lr01) - 16) / 219).float()  # same weights, full range [0, 1]
        return _run_restorer(r, luma, None, tile, overlap), True
    out = _run_restorer(r, lr01.expand(-1, 3, -1, -1), None, tile, overlap)
    return out.mean(1, keepdim=True), False


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/restoration.py",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=None,
                    help="data root holding restoration/testsets/ (default: $PIXELSMITH_DATA, "
                         "else ~/.cache/pixelsmith/data)")
    ap.add_argument("--sets", default=",".join(TEST_SETS), help="comma-separated test sets")
    ap.add_argument("--sigmas", default="15,25,50", help="noise levels on the 0-255 scale")
    ap.add_argument("--scales", default="2,3,4", help="super-resolution factors")
    ap.add_argument("--baselines", default="gaussian-filter,median-filter,bicubic",
                    help="classical baselines to score (add bm3d: seconds per image)")
    ap.add_argument("--checkpoint", action="append", default=[],
                    help="a trained restoration run (repeatable)")
    ap.add_argument("--model", action="append", default=[],
                    help="a packaged model by name (repeatable; `pixelsmith models`)")
    ap.add_argument("--blind", action="store_true",
                    help="also score models that read σ without telling them (estimated)")
    ap.add_argument("--device", default="auto", help="device for checkpoints")
    ap.add_argument("--tile", type=int, default=0, help="tile size for checkpoints (0 = whole)")
    ap.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP,
                    help="tile overlap, input pixels (exact for receptive radii up to "
                         "overlap/4; the CLI's default)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the noise")
    ap.add_argument("--max-images", type=int, default=None, help="first N images of each set")
    ap.add_argument("--out", default=None, help="also write the tables to this markdown file")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, figures: dict | None = None,
         models_dir: Path | None = None) -> str:
    """Print (and return) the tables; ``figures`` receives {set: {method: {column: PSNR}}};
    ``models_dir``: where packaged --model names are looked up (default: the package's)."""
    args = parse_args(argv)
    sets, sigmas = _csv(args.sets), _csv(args.sigmas, int)
    scales, baselines = _csv(args.scales, int), _csv(args.baselines)
    for s in sets:
        if s not in TEST_SETS:
            raise PixelsmithError(f"--sets: unknown test set '{s}'; choose from "
                                  f"{', '.join(TEST_SETS)}")
    for b in baselines:
        BASELINES.entry(b)  # unknown name -> error listing the registered ones
        if b not in DENOISE_BASELINES + SR_BASELINES:
            raise PixelsmithError(f"--baselines: '{b}' is not a denoising or super-resolution "
                                  f"baseline; choose from "
                                  f"{', '.join(DENOISE_BASELINES + SR_BASELINES)}")
    if any(s not in (2, 3, 4) for s in scales):
        raise PixelsmithError(f"--scales must be among 2, 3, 4, got {args.scales}")
    ckpts = _checkpoint_methods(args.checkpoint, args.device, args.tile, args.overlap,
                                args.model, models_dir)
    device = ckpts[0][1].device if ckpts else torch.device("cpu")
    cmd = "python bench/restoration.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = ["## Restoration benchmark", "",
             f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
             f"- device: {_device_line(device)} (classical baselines on the CPU)",
             f"- torch {torch.__version__}, Python {platform.python_version()}",
             f"- command: `{cmd}`",
             "- denoising: y = x + σ/255·n, seed "
             f"{args.seed}, not clipped, not quantised; outputs rounded to 8 bits; "
             "PSNR/SSIM on [0, 255]",
             "- super-resolution: LR by torch antialiased bicubic; 8-bit Y channel (BT.601), "
             "`scale` px shaved", ""]
    notes: list[str] = []
    for name in sets:
        images = load_test_set(name, data_root(args.data_root))[: args.max_images]
        print(f"{name}: {len(images)} images", file=sys.stderr, flush=True)
        got = None if figures is None else figures.setdefault(name, {})
        if name in DENOISE_SETS:
            table, n = denoise_table(name, images, sigmas,
                                     [b for b in baselines if b in DENOISE_BASELINES], ckpts,
                                     args, got)
        else:
            table, n = sr_table(name, images, scales,
                                [b for b in baselines if b in SR_BASELINES], ckpts, args, got)
        lines += table + [""]
        notes += n
    lines += [f"- {n}" for n in notes]
    text = "\n".join(lines).rstrip() + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return text
