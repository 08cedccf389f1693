"""Speed and quality of denoising a real photograph on this machine, in one table:
`pixelsmith restore` with each packaged denoiser on a 12-megapixel colour photograph
(wall time and peak memory of the whole command), beside OpenCV's
fastNlMeansDenoisingColored and CBM3D; PSNR of each on a noisy Kodak image.

    python bench/restore_speed.py [--sigma 25] [--kodak kodim05] [--mosaic 8x6] \
        [--models denoise-color] [--out table.md]

The 12 MP photograph: the Kodak24 test set's photographs (500x500 crops in the usual
denoising copy) laid edge to edge in an 8 x 6 mosaic (4000 x 3000 = 12 MP; images 1-24
twice), with Gaussian noise (--sigma, seed 0) added and saved as PNG: real photographic
content at a real camera's size, and the noise level known. CBM3D takes about a minute per
megapixel, so it is timed on the Kodak image and its 12 MP time extrapolated by pixel count
(said in the table). Data through the data root.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixelsmith.data.roots import data_root
from pixelsmith.devices import describe_device
from pixelsmith.errors import run_script
from pixelsmith.metrics.restoration_protocol import load_test_set, psnr255, quantise
from pixelsmith.registry import BASELINES
from pixelsmith.zoo import list_models, load_pretrained

PIXELSMITH = Path(sys.executable).with_name("pixelsmith")


def mosaic(images: list[np.ndarray], cols: int, rows: int) -> np.ndarray:
    """(H, W, 3) uint8 photographs edge to edge: portraits turned landscape, all cut to the
    smallest common size."""
    images = [a if a.shape[0] <= a.shape[1] else a.transpose(1, 0, 2) for a in images]
    h, w = min(a.shape[0] for a in images), min(a.shape[1] for a in images)
    tiles = [images[i % len(images)][:h, :w] for i in range(cols * rows)]
    return np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], 1)
                           for r in range(rows)], 0)


def run_measured(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {shlex.join(cmd)}\n{proc.stderr.read().decode()[-2000:]}")
    return secs, usage.ru_maxrss / 1024


def nlm(y01: torch.Tensor, sigma: float) -> torch.Tensor:
    """OpenCV non-local means on an 8-bit copy (what the function takes); h = 0.8 sigma."""
    import cv2

    img = (y01[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    h = 0.8 * sigma
    out = cv2.fastNlMeansDenoisingColored(img[..., ::-1].copy(), None, h, h, 7, 21)[..., ::-1]
    return torch.from_numpy(out.copy()).permute(2, 0, 1)[None].float() / 255


def onnx_rows(name: str, y: torch.Tensor, sigma: float, mp: float) -> list[tuple]:
    """The packaged model through onnxruntime and through PyTorch on the whole Kodak image
    (gray model: the three channels as a batch of 3), 12 MP time scaled by pixels."""
    try:
        from pixelsmith.restore.onnx_export import export_onnx, time_onnx, time_torch
        with tempfile.TemporaryDirectory() as tmp:
            r = load_pretrained(name, device="cpu")
            path = Path(tmp) / f"{name}.onnx"
            export_onnx(r, path)
            batch = y.transpose(0, 1) if r.img_channels == 1 else y  # (3, 1, H, W)
            t_ort = time_onnx(path, batch, torch.full((batch.shape[0],), sigma))
            t_pt = time_torch(r, batch, sigma)
    except Exception as e:  # the onnx extra missing: say so in the table
        return [(f"onnxruntime `{name}`", float("nan"), None, None, f"not run ({e})")]
    per_mp = mp / (y.shape[-1] * y.shape[-2] / 1e6)
    note = "whole image, no tiles; time scaled by pixels"
    return [(f"onnxruntime `{name}`", float("nan"), t_ort * per_mp, None,
             f"{t_ort:.2f} s on the Kodak image; {note}"),
            (f"PyTorch `{name}`, same call", float("nan"), t_pt * per_mp, None,
             f"{t_pt:.2f} s on the Kodak image; {note}")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sigma", type=float, default=25)
    ap.add_argument("--kodak", default="kodim05", help="the Kodak24 image for PSNR")
    ap.add_argument("--mosaic", default="8x6", help="COLSxROWS of Kodak images (8x6 = 12 MP)")
    ap.add_argument("--models", default="", help="packaged denoisers to time, comma-separated "
                    "(default: all)")
    ap.add_argument("--skip-cbm3d", action="store_true")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    kodak = load_test_set("Kodak24", data_root(args.data_root))
    cols, rows = (int(v) for v in args.mosaic.split("x"))
    big = mosaic([t.image.permute(1, 2, 0).numpy() for t in kodak], cols, rows)
    big = big.astype(np.float64)
    rng = np.random.default_rng(0)
    noisy_big = np.clip(big + rng.normal(0, args.sigma, big.shape), 0, 255).astype(np.uint8)
    mp = noisy_big.shape[0] * noisy_big.shape[1] / 1e6
    test = next(t for t in kodak if t.name.startswith(args.kodak))
    x = test.image[None].float() / 255
    y = (x + args.sigma / 255 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
         ).clamp(0, 1)  # a saved photograph is clipped
    ref = x.double() * 255
    rows_out = [("noisy input", psnr255(quantise(y), ref).item(), None, None, "")]
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo12mp.png"
        Image.fromarray(noisy_big).save(photo)
        wanted = [m for m in args.models.split(",") if m]
        for card in list_models():
            if card.task != "denoise" or (wanted and card.name not in wanted):
                continue
            # the precision `pixelsmith restore` picks here (--precision auto), so the PSNR is
            # that of the timed command's output
            r = load_pretrained(card.name, device="cpu").with_precision("auto")
            r = r.per_channel() if r.img_channels == 1 else r
            psnr = psnr255(quantise(r.restore_image(y[0], sigma=args.sigma)[None]), ref).item()
            est = psnr255(quantise(r.restore_image(y[0])[None]), ref).item()
            cmd = [str(PIXELSMITH), "restore", str(photo), "--model", card.name,
                   "--out", str(Path(tmp) / card.name), "--sigma", f"{args.sigma:g}"]
            secs, rss = run_measured(cmd)
            rows_out.append((f"pixelsmith `{card.name}`" + (" (per channel)" if
                             card.channels == 1 else ""), psnr, secs, rss,
                             f"σ estimated: {est:.2f} dB; `pixelsmith restore` (256 px tiles, "
                             f"overlap 32, {r.precision})"))
            rows_out += onnx_rows(card.name, y, args.sigma, mp)
        t0 = time.perf_counter()
        out = nlm(torch.from_numpy(noisy_big).permute(2, 0, 1)[None].float() / 255, args.sigma)
        nlm_secs = time.perf_counter() - t0
        del out
        rows_out.append(("OpenCV fastNlMeansDenoisingColored (h = 0.8σ, 7/21)",
                         psnr255(quantise(nlm(y, args.sigma)), ref).item(), nlm_secs, None,
                         "library call on the 12 MP array"))
        if not args.skip_cbm3d:
            t0 = time.perf_counter()
            out = BASELINES.get("bm3d")(y, {"sigma": torch.tensor([args.sigma])})
            secs = time.perf_counter() - t0
            rows_out.append(("CBM3D (bm3d package, told σ)", psnr255(quantise(out), ref).item(),
                             secs * mp / (x.shape[-1] * x.shape[-2] / 1e6), None,
                             f"timed on {args.kodak} ({secs:.1f} s), extrapolated by pixels"))
    cmd = "python bench/restore_speed.py " + shlex.join(sys.argv[1:])
    lines = [f"## Denoising a {mp:.0f} MP photograph", "",
             f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}",
             f"- device: {describe_device('cpu')}; torch {torch.__version__}",
             f"- command: `{cmd}`",
             f"- photograph: {cols}x{rows} mosaic of Kodak24 = {noisy_big.shape[1]}x"
             f"{noisy_big.shape[0]} ({mp:.1f} MP), σ = {args.sigma:g} noise, clipped, 8-bit PNG",
             f"- PSNR: {args.kodak} with σ = {args.sigma:g} noise (seed 0, clipped), "
             "outputs rounded to 8 bits", "",
             f"| method | PSNR dB | {mp:.0f} MP time (s) | peak RSS (MB) | note |",
             "| --- | --- | --- | --- | --- |"]
    for name, p, secs, rss, note in rows_out:
        cells = ["same" if p != p else f"{p:.2f}", "—" if secs is None else f"{secs:.1f}",
                 "—" if rss is None else f"{rss:.0f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {note} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    run_script(main)
