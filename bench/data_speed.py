"""Images/s delivered to the training step, and peak memory, for each way pixelsmith can
feed it: the set in memory, packed shards streamed by 0/1/2 DataLoader workers, and
torchvision's ImageFolder + DataLoader on the same folder; at 32 px (CIFAR-10's PNGs) and
the same pictures upscaled to 64 px.

    PYTHONPATH=src python bench/data_speed.py                      # all 50,000, 32 and 64 px
    PYTHONPATH=src python bench/data_speed.py --max-images 2000    # a quick check
    PYTHONPATH=src python bench/data_speed.py --device cuda --workers 0,2,4,8

The folder is ``<data root>/cifar10/train`` unless --folder names another (a folder of
class subfolders). Derived data (the 64 px copy, the packed shards) go to --work (default
``$PIXELSMITH_CACHE/bench-data``) and are reused by later runs. Each row runs in its own
process, so its peak RSS is its own: the main process's, plus the sum of its workers'.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from pixelsmith.data.roots import cache_dir, data_root
from pixelsmith.devices import describe_device
from pixelsmith.errors import PixelsmithError, run_script


def hwm_kb(pid: int | str = "self") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children() -> list[int]:
    pids = []
    for task in Path("/proc/self/task").glob("*"):
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


# ---------------------------------------------------------------- one row, in its own process
def loader_source(kind: str, folder: Path, size: int, workers: int, batch: int,
                  device: torch.device, packed: Path | None):
    """An object with next() -> float (B, C, S, S) on the device, as the step gets it."""
    if kind in ("memory", "packed"):
        from pixelsmith.config import load_config
        from pixelsmith.data.batches import make_batches

        data = (["data.name=image-folder", f"data.root={folder}", "data.labels=true",
                 "data.stream=false"] if kind == "memory" else
                ["data.name=packed", f"data.root={packed}", "data.stream=true",
                 f"data.workers={workers}"])
        cfg = load_config(None, [*data, f"data.img_size={size}", "data.img_channels=3"]).data
        src = make_batches(cfg, batch_size=batch, seed=0, device=device)
        return lambda: src.next().x
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import PILToTensor

    loader = DataLoader(ImageFolder(str(folder), transform=PILToTensor()), batch_size=batch,
                        shuffle=True, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    state = {"it": iter(loader)}

    def nxt():
        try:
            x, _ = next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            x, _ = next(state["it"])
        return x.to(device, non_blocking=True).float().div_(127.5).sub_(1)

    return nxt


def one_row(spec: dict) -> dict:
    device = torch.device(spec["device"])
    t0 = time.perf_counter()
    nxt = loader_source(spec["kind"], Path(spec["folder"]), spec["size"], spec["workers"],
                        spec["batch"], device, spec.get("packed") and Path(spec["packed"]))
    x = nxt()
    for _ in range(spec["warmup"]):
        x = nxt()
    if device.type == "cuda":
        torch.cuda.synchronize()
    ready = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(spec["batches"]):
        x = nxt()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t1
    assert x.shape == (spec["batch"], 3, spec["size"], spec["size"])
    main_kb = max(hwm_kb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    workers_kb = sum(hwm_kb(p) for p in children())
    return {"img_s": spec["batches"] * spec["batch"] / dt, "ready_s": ready,
            "main_mb": main_kb / 1024, "workers_mb": workers_kb / 1024}


# ---------------------------------------------------------------- preparing the folders
def subset_folder(src: Path, work: Path, size: int, limit: int | None) -> Path:
    """``src`` (first ``limit`` files, sorted) at ``size`` px: links when it already is,
    else a resized copy (Pillow bicubic). Made once, reused."""
    from PIL import Image

    from pixelsmith.data.image_folder import scan_folder

    paths, _ = scan_folder(src)
    paths = paths[:limit] if limit else paths
    with Image.open(paths[0]) as im:
        native = im.size == (size, size)
    if native and not limit:
        return src
    out = work / f"{src.name}-{size}px-{len(paths)}"
    if (out / ".done").is_file():
        return out
    print(f"making {out} ({len(paths)} files)", file=sys.stderr)
    for p in paths:
        dst = out / p.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if native:
            if not dst.exists():
                dst.symlink_to(p)
        else:
            with Image.open(p) as im:
                im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(dst)
    (out / ".done").write_text("")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=None,
                    help="class-subfolder image folder (default: <data root>/cifar10/train)")
    ap.add_argument("--sizes", default="32,64")
    ap.add_argument("--workers", default="0,1,2", help="worker counts for the streamed path")
    ap.add_argument("--tv-workers", default="2", help="worker counts for torchvision")
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=300, help="timed batches per row")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--shard-size", type=int, default=2000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", type=Path, default=None,
                    help="where the derived folders and packs go (default: cache/bench-data)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_row(json.loads(args.one))))
        return
    folder = args.folder or data_root() / "cifar10" / "train"
    if not folder.is_dir():
        raise PixelsmithError(f"image folder {folder} not found; give --folder or set "
                              "PIXELSMITH_DATA to a root holding cifar10/train")
    work = args.work or cache_dir() / "bench-data"
    work.mkdir(parents=True, exist_ok=True)
    from pixelsmith.data.packed import pack

    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        sub = subset_folder(folder, work, size, args.max_images)
        t0 = time.perf_counter()
        out = work / f"packed-{sub.name}-{size}"
        rep = pack(str(sub), out, size=size, shard_size=args.shard_size)
        pack_s = time.perf_counter() - t0
        n = rep.count
        print(f"{size} px: {n} images, packed in {pack_s:.1f} s "
              f"({'reused' if rep.reused == rep.shards else 'written'})", file=sys.stderr)
        specs = [("memory", 0)] + [("packed", int(w)) for w in args.workers.split(",")] + \
                [("torchvision", int(w)) for w in args.tv_workers.split(",")]
        for kind, w in specs:
            spec = {"kind": kind, "workers": w, "folder": str(sub), "packed": str(out),
                    "size": size, "batch": args.batch, "batches": args.batches,
                    "warmup": args.warmup, "device": args.device}
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            r = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)],
                               capture_output=True, text=True, env=env)
            if r.returncode:
                raise PixelsmithError(f"{kind} ({w} workers) failed: "
                                      f"{r.stderr.strip().splitlines()[-1]}")
            res = json.loads(r.stdout.strip().splitlines()[-1])
            rows.append((size, n, kind, w, res))
            print(f"  {kind:12s} w={w}: {res['img_s']:9.0f} img/s", file=sys.stderr)

    dev = describe_device(args.device)
    print(f"\ndate {datetime.date.today()}, device {args.device} ({dev}, "
          f"{os.cpu_count()} CPUs), torch {torch.__version__}")
    print("command: PYTHONPATH=src python " + shlex.join(["bench/data_speed.py", *sys.argv[1:]]))
    print(f"batch {args.batch}, {args.batches} timed batches after {args.warmup} warm-up\n")
    print("| px | images | path | workers | img/s to the step | ready (s) | peak RSS main (MB) "
          "| + workers (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    names = {"memory": "in memory (DeviceBatches)", "packed": "packed shards, streamed",
             "torchvision": "torchvision ImageFolder + DataLoader"}
    for size, n, kind, w, r in rows:
        ws = "-" if kind == "memory" else str(w)
        print(f"| {size} | {n} | {names[kind]} | {ws} | {r['img_s']:,.0f} | {r['ready_s']:.1f} "
              f"| {r['main_mb']:,.0f} | {r['workers_mb']:,.0f} |")


if __name__ == "__main__":
    run_script(main)
