"""Images/s of `pixelsmith sample RUN --out FOLDER` (batches on the device, writer threads
saving PNGs) against generating everything first and then saving one by one.

    PYTHONPATH=src python bench/sample_speed.py --num 50000               # GPU
    PYTHONPATH=src python bench/sample_speed.py --num 2000 --device cpu   # CPU
    PYTHONPATH=src python bench/sample_speed.py --run runs/my-run --num 50000
    PYTHONPATH=src python bench/sample_speed.py --num 500 --device cpu \
        --config configs/diffusion/ddpm-fashion-mnist-cpu.yaml --nfe 10,20,50 \
        --precision fp32,bf16                                                  # diffusion
    PYTHONPATH=src python bench/sample_speed.py --num 10000 --batch-size 1000 \
        --config configs/diffusion/ddpm-fashion-mnist-cpu.yaml --nfe 10,20,50 \
        --precision fp32,bf16 --cuda-graphs on,off                    # diffusion, GPU

Without --run it times an untrained generator of --config (the speed does not depend on
the weights).
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from pixelsmith.config import load_config
from pixelsmith.devices import describe_device
from pixelsmith.generate import generate, generate_to_folder, load_model, write_images
from pixelsmith.training import Trainer


def untrained_run(config: str, device: str, folder: Path) -> Path:
    cfg = load_config(Path(config), ["data.name=digits", "data.root=null", "data.max_images=64",
                                     "train.steps=0", "train.progress=false",
                                     f"train.device={device}"])
    Trainer(cfg, folder).save()  # step 0: a checkpoint of the initial weights
    return folder


def diffusion_rows(run: Path, args, nfes: list[int], precision: str, graphed: bool):
    """(how, seconds) of generating ``args.num`` images in memory at each NFE. Each model
    is loaded afresh, so a CUDA graph's capture (once per batch shape) is in its time."""
    from pixelsmith.generate.loading import sampling_settings
    from pixelsmith.generate.sampler_options import sampler_overrides
    from pixelsmith.objectives.diffusion_samplers import steps_for_nfe

    def model(steps: int):
        over = sampler_overrides(args.sampler, steps, precision=precision)
        return load_model(run, device=args.device,
                          overrides=[*over, f"objective.cuda_graphs={str(graphed).lower()}"])

    warm = model(1)  # one step at the timed shapes: kernels chosen, memory allocated
    generate(warm, args.num, batch_size=args.batch_size)
    how = sampling_settings(warm)["sample_precision"] + (", CUDA graphs" if graphed else "")
    rows = []
    for nfe in nfes:
        steps = steps_for_nfe(args.sampler, nfe)
        m = model(steps)
        t0 = time.perf_counter()
        generate(m, args.num, batch_size=args.batch_size)
        rows.append((f"diffusion, {args.sampler} {steps} steps (NFE {nfe}), {how}, in memory",
                     time.perf_counter() - t0))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=None, help="a run folder (default: untrained)")
    ap.add_argument("--config", default="configs/gan/dcgan-cifar10.yaml")
    ap.add_argument("--num", type=int, default=50000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--baseline", action="store_true", help="also time generate-then-save")
    ap.add_argument("--nfe", default="", help="diffusion runs: also time generate (no files) "
                                              "at these network evaluations, e.g. 10,20,50")
    ap.add_argument("--sampler", default="dpm-solver-2m", help="diffusion runs: with --nfe")
    ap.add_argument("--precision", default="fp32", help="diffusion runs: with --nfe, the "
                                                        "denoiser's arithmetic, e.g. fp32,bf16")
    ap.add_argument("--cuda-graphs", default="on", help="diffusion runs on a GPU: with --nfe, "
                    "replay the denoiser from CUDA graphs (objective.cuda_graphs), e.g. on,off")
    args = ap.parse_args()
    graphs = [g.strip() for g in args.cuda_graphs.split(",") if g.strip()]
    if not set(graphs) <= {"on", "off"}:
        sys.exit(f"--cuda-graphs takes on, off or on,off; got {args.cuda_graphs!r}")
    graphs = [g == "on" for g in graphs]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run or untrained_run(args.config, args.device, tmp / "run")
        model = load_model(run, device=args.device)
        device = next(model.net.parameters()).device
        generate(model, min(args.num, args.batch_size), batch_size=args.batch_size)  # warm-up
        rows = []
        t0 = time.perf_counter()
        generate_to_folder(model, args.num, tmp / "streamed", batch_size=args.batch_size,
                           writers=args.writers)
        rows.append(("batched on device + writer threads", time.perf_counter() - t0))
        if args.baseline:
            shutil.rmtree(tmp / "streamed")
            t0 = time.perf_counter()
            write_images(generate(model, args.num, batch_size=args.batch_size), tmp / "serial")
            rows.append(("generate all, then save one by one", time.perf_counter() - t0))
        written = len(list((tmp / ("serial" if args.baseline else "streamed")).iterdir()))
        assert written == args.num, written
        nfes = [int(n) for n in args.nfe.split(",") if n.strip()]
        precisions = [p.strip() for p in args.precision.split(",") if p.strip()] if nfes else []
        for precision in precisions:
            for graphed in graphs if device.type == "cuda" else [False]:
                rows += diffusion_rows(run, args, nfes, precision, graphed)

    name = describe_device(device)
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"device: {name}; date: {datetime.date.today()}; torch {torch.__version__}")
    print(f"command: `{cmd}`\n")
    print("| how | images | seconds | images/s |\n|---|---|---|---|")
    for how, dt in rows:
        print(f"| {how} | {args.num} | {dt:.1f} | {args.num / dt:.0f} |")


if __name__ == "__main__":
    main()
