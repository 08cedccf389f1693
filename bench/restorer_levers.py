"""What each CPU lever gives when training a restorer: training samples/s of the U-Net
restorer (Adam step, L1 loss, batch of 64x64 gray patches) with fp32 or bf16 autocast, and
the default or channels-last memory format. bf16 pays only where the CPU computes it
natively (AVX512-BF16 / AMX) and even there not for every network: measure before use.

    python bench/restorer_levers.py [--batch 16] [--patch 64] [--steps 10]
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time

import torch

from pixelsmith.devices import describe_device
from pixelsmith.models.unet_restorer import UNetRestorer

NETS = {"3 levels, 32/64/128": dict(levels=3, max_width=128),
        "4 levels, 32/64/128/128": dict(levels=4, max_width=128)}


def samples_per_s(net_kw: dict, bf16: bool, channels_last: bool, args) -> tuple[float, int]:
    torch.manual_seed(0)
    net = UNetRestorer(img_channels=1, width=32, blocks=2, attention=False,
                       noise_level_input=True, **net_kw)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.randn(args.batch, 1, args.patch, args.patch).contiguous(memory_format=fmt)
    sigma = torch.full((args.batch,), 25.0)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x, sigma)
        loss = (out.float() - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    return args.batch * args.steps / (time.perf_counter() - t0), sum(
        p.numel() for p in net.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    native = torch.backends.mkldnn.is_available() and bool(
        torch.ops.mkldnn._is_mkldnn_bf16_supported())
    print(f"- date: {datetime.datetime.now():%Y-%m-%d %H:%M}\n- device: {describe_device()}, "
          f"native bf16: {native}; torch {torch.__version__}\n- command: `python "
          f"bench/restorer_levers.py {shlex.join(sys.argv[1:])}`\n")
    print("| U-Net restorer | params | fp32 | fp32 channels-last | bf16 | bf16 channels-last |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, kw in NETS.items():
        cells = []
        for bf16 in (False, True):
            for cl in (False, True):
                rate, params = samples_per_s(kw, bf16, cl, args)
                cells.append(f"{rate:.1f}")
        print(f"| {name} | {params / 1e6:.2f}M | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
