"""Package a finished restoration run as a model that ships with pixelsmith: float16
weights + a manifest (training config, data checksum, steps, wall time, device, torch),
then score it with the restoration benchmark and record the table and a few check images.

    python bench/zoo_package.py RUN --name denoise-gray \
        --config-file configs/zoo/denoise-gray.yaml --summary "..." [--default] \
        --bench "--sets Set12,BSD68 --sigmas 15,25,50 --baselines bm3d" \
        --check "set=Set12,images=3,sigma=25"

An inpainter is scored by bench/inpainting.py on photographs instead (``--bench`` holds its
arguments, e.g. "--photos Kodak24 --crop 256 --num 96 --masks free-form,random-boxes
--coverage 0.2"; its check e.g. "set=Kodak24,images=3,crop=256,mask=free-form,coverage=0.2").

A generator (GAN, VAE, diffusion) is scored by the evaluate protocol (FID, KID, precision,
recall and, for a conditional one, class accuracy on the data set's evaluator features),
drawn with the sampling settings of its config, the ones `pixelsmith sample --model NAME`
uses (``--bench "--num 10000"``); its check is the mean pixel of a few seeded samples
("images=8").

Writes src/pixelsmith/zoo/models/NAME/ (or --models-dir). Data through the data root
($PIXELSMITH_DATA or --data-root), as every bench script.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import shlex
import sys
from pathlib import Path

from pixelsmith.data.roots import data_root
from pixelsmith.devices import describe_device
from pixelsmith.errors import PixelsmithError, run_script
from pixelsmith.restore import benchmark
from pixelsmith.training.checkpoint import load_checkpoint
from pixelsmith.zoo import card as zoo_card
from pixelsmith.zoo.check import check_scores, generator_check_values
from pixelsmith.zoo.loading import load_pretrained
from pixelsmith.zoo.package import package_run, write_manifest

PROTOCOL = ("restore/benchmark.py: denoising y = x + σ/255·n (seed 0, not clipped), the model "
            "told σ; SR: torch antialiased bicubic LR, 8-bit Y, scale px shaved; outputs "
            "rounded to 8 bits; whole images")
INPAINT_PROTOCOL = ("bench/inpainting.py --photos: non-overlapping tiles of a colour test set, "
                    "one seeded generator per mask kind, holes mid-gray for the baselines; "
                    "PSNR/SSIM of the hole and of the whole tile on 8-bit outputs")
GENERATOR_PROTOCOL = ("pixelsmith evaluate's protocol: samples drawn with the config's own "
                      "sampling settings (seed 0, EMA weights, rounded to 8 bits) against as "
                      "many reference images, features of the data set's evaluator network")
STR_KEYS = ("set", "mask")


CHECK_KEYS = {"denoise": ("set", "images", "sigma"), "deblur": ("set", "images", "sigma"),
              "sr": ("set", "images", "scale"),
              "inpaint": ("set", "images", "crop", "mask", "coverage"),
              "generate": ("images",)}


def _spec(text: str, task: str) -> dict:
    """--check as a dict, checked for the task before any work (one-line errors)."""
    spec = {}
    for part in text.split(","):
        key, _, value = (s.strip() for s in part.partition("="))
        try:
            spec[key] = value if key in STR_KEYS else float(value)
        except ValueError:
            raise PixelsmithError(f"--check: '{key}={value}' is not a number") from None
    missing = [k for k in CHECK_KEYS[task] if k not in spec]
    unknown = sorted(set(spec) - set(CHECK_KEYS[task]) - {"seed"})
    if missing or unknown:
        raise PixelsmithError(f"--check for a {task} model takes {', '.join(CHECK_KEYS[task])}"
                              + (f"; missing {', '.join(missing)}" if missing else "")
                              + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    for key in ("images", "scale", "crop"):
        if key in spec:
            spec[key] = int(spec[key])
    return spec


def restoration_bench(args) -> dict:
    """bench/restoration.py's table with this model's rows as the manifest's figures."""
    figures: dict = {}
    bench_argv = shlex.split(args.bench) + ["--model", args.name]
    if args.data_root:
        bench_argv += ["--data-root", args.data_root]
    table = benchmark.main(bench_argv, figures, args.models_dir)
    ours = {}  # {"Set12": {...}, "Set12, σ estimated": {...}} for this model's rows
    for set_name, rows in figures.items():
        for label, cells in rows.items():
            if f"packaged `{args.name}`" in label:
                blind = label.endswith("σ estimated")
                ours[set_name + (", σ estimated" if blind else "")] = cells
    return {"protocol": PROTOCOL, "command": "python bench/restoration.py " + shlex.join(
        bench_argv), "date": f"{datetime.date.today()}", "device": describe_device("cpu"),
        "table": table, "figures": {s: v for s, v in ours.items() if v}}


def _bench_module(name: str):
    """A sibling bench script as a module."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inpainting_bench(args) -> dict:
    """bench/inpainting.py's tables; figures: this model's hole PSNR per mask kind."""
    bench = _bench_module("inpainting")
    bench_argv = shlex.split(args.bench) + ["--checkpoint", args.name]
    if args.data_root:
        bench_argv += ["--data-root", args.data_root]
    photos = bench_argv[bench_argv.index("--photos") + 1] if "--photos" in bench_argv else None
    if photos is None:
        raise PixelsmithError("--bench for an inpainter needs --photos SET (e.g. Kodak24): "
                              "the packaged inpainter is scored on photographs")
    scores: dict = {}
    table = bench.main(bench_argv, args.models_dir, scores)
    # `pixelsmith models` shows dB: this model's hole PSNR, per set and mask kind
    figures = {f"{photos} {kind}": {"hole": round(rows[f"ours: {args.name}"]["PSNR hole"], 2)}
               for kind, rows in scores.items()}
    return {"protocol": INPAINT_PROTOCOL, "command": "python bench/inpainting.py " + shlex.join(
        bench_argv), "date": f"{datetime.date.today()}", "device": describe_device("cpu"),
        "table": table, "figures": figures}


def generator_bench(args) -> dict:
    """FID and the rest of the packaged (float16) generator, as `pixelsmith evaluate`."""
    from pixelsmith.metrics.evaluate import reference_data

    ap = argparse.ArgumentParser(prog="--bench")
    ap.add_argument("--num", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--evaluator", default=None)
    opts = ap.parse_args(shlex.split(args.bench))
    nfe = _bench_module("diffusion_nfe")
    model = load_pretrained(args.name, models_dir=args.models_dir)
    reference = reference_data(model.cfg.data, args.data_root, opts.num)
    values = nfe.score(model, nfe.metrics_for(model), opts, reference)
    obj = model.cfg.objective
    how = (f"{obj.sampler}, {obj.sample_steps} steps" if obj.name == "diffusion" else "one pass")
    row = f"{model.cfg.data.name} {opts.num} samples ({how})"
    table = nfe.markdown_table(["model", "samples", *(nfe.SHORT[k] for k in values)],
                               [[f"`{args.name}`", opts.num, *values.values()]])
    return {"protocol": f"{GENERATOR_PROTOCOL}; reference: {reference[1]}",
            "command": f"python bench/zoo_package.py ... --bench {shlex.quote(args.bench)}",
            "date": f"{datetime.date.today()}",
            "device": describe_device("cpu"), "table": table,
            "figures": {row: {nfe.SHORT[k]: round(v, 4) for k, v in values.items()}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--config-file", required=True, help="the config the run was trained with")
    ap.add_argument("--default", action="store_true", help="the default for its task/channels")
    ap.add_argument("--bench", default="", help="arguments of bench/restoration.py (of "
                    "bench/inpainting.py for an inpainter)")
    ap.add_argument("--check", required=True, help="e.g. set=Set12,images=3,sigma=25")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--models-dir", type=Path, default=zoo_card.MODELS_DIR)
    args = ap.parse_args()

    folder = args.models_dir / args.name
    run_cmd = f"pixelsmith train {args.config_file} --run-dir {args.run}"
    pkg_cmd = "python bench/zoo_package.py " + shlex.join(sys.argv[1:])
    cfg = load_checkpoint(args.run).config
    task = {"gaussian-noise": "denoise", "bicubic-down": "sr", "blur": "deblur"}.get(
        cfg["objective"].get("degradation", {}).get("name"), "inpaint"
        if cfg["objective"]["name"] == "inpainting" else None)
    if task is None:
        task = "generate"
    spec = _spec(args.check, task)  # before the long work: a typo fails at once
    scale = int(cfg["objective"].get("degradation", {}).get("scale", 1) or 1)
    manifest = package_run(args.run, folder, task=task, channels=cfg["data"]["img_channels"],
                           scale=scale, summary=args.summary,
                           command=run_cmd, package_command=pkg_cmd,
                           config_file=args.config_file,
                           default=args.default)
    root = data_root(args.data_root)
    bench = {"inpaint": inpainting_bench, "generate": generator_bench}.get(task,
                                                                            restoration_bench)
    manifest["bench"] = bench(args)
    packaged = load_pretrained(args.name, models_dir=args.models_dir)
    if task == "generate":
        key, values = "means", generator_check_values(packaged, {**spec, "seed": 0})
    else:
        key, values = "psnr", check_scores(packaged, {**spec, "seed": 0}, root)
    manifest["check"] = {**spec, "seed": 0, key: values}
    write_manifest(folder, manifest)
    print(f"packaged {args.name} in {folder}: {manifest['parameters']:,} parameters, "
          f"check {values}")


if __name__ == "__main__":
    run_script(main)
