"""Many samples to a folder of PNGs, fast: batches are generated on the device while writer
threads encode and save the previous ones (PNG compression releases the GIL, so the
threads overlap with each other and with the generator)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import torch

from pixelsmith.data.transforms import to_uint8
from pixelsmith.errors import PixelsmithError


def _writer(jobs: queue.Queue, out: Path, errors: list) -> None:
    from pixelsmith.data.image_files import save_png

    while True:
        job = jobs.get()
        if job is None:
            return
        start, pixels = job  # (B, C, H, W) uint8 on the CPU
        try:
            for i, p in enumerate(pixels):
                save_png(p, out / f"{start + i:06d}.png", compress_level=1)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)


@torch.no_grad()
def generate_to_folder(model, num: int, out: str | Path, *, seed: int = 0,
                       batch_size: int = 500, labels: torch.Tensor | None = None,
                       writers: int = 4) -> Path:
    """Write ``num`` samples as ``out/000000.png``...; the same images as
    ``sampling.generate`` with the same seed (same inputs, drawn for all ``num`` up front)."""
    if num < 1:
        raise PixelsmithError(f"--num must be at least 1, got {num}")
    if batch_size < 1 or writers < 1:
        raise PixelsmithError("batch size and writer threads must be >= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = model.objective.sample_inputs(num, torch.Generator().manual_seed(seed), labels)
    # a short queue bounds host memory: the generator runs at most 2 batches per writer ahead
    jobs: queue.Queue = queue.Queue(maxsize=2 * writers)
    errors: list[Exception] = []
    threads = [threading.Thread(target=_writer, args=(jobs, out, errors), daemon=True)
               for _ in range(writers)]
    for t in threads:
        t.start()
    try:
        for i in range(0, num, batch_size):
            if errors:
                break
            chunk = {k: v[i : i + batch_size] for k, v in inputs.items()}
            images = model.objective.sample(model.net, chunk)  # (B, C, H, W) on the device
            # uint8 on the device: 4x less to copy to the host than float
            pixels = to_uint8(images).cpu()
            jobs.put((i, pixels))
    finally:
        for _ in threads:
            jobs.put(None)
        for t in threads:
            t.join()
    if errors:
        raise PixelsmithError(f"writing samples to {out} failed: {errors[0]}")
    return out
