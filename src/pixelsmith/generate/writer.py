"""Images out to files: one grid PNG, or a folder of PNGs written by worker threads while
the next batch is generated (PNG compression releases the GIL, so the threads overlap with
each other and with the generator). ``sample``, ``export`` and ``write_images`` all write
through ``PngWriter``."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import torch

from pixelsmith.data.image_files import save_png
from pixelsmith.data.transforms import to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import LoadedModel
from pixelsmith.generate.sampling import sample_batches
from pixelsmith.training.run_log import save_grid

GRID_SUFFIXES = (".png", ".jpg", ".jpeg")
GRID_MAX_PIXELS = 64_000_000  # a grid is made in memory: larger requests go to a folder
PROGRESS_MIN_IMAGES = 2000  # a folder of fewer is written before a bar would be useful


class PngWriter:
    """``put(pixels, paths)`` queues uint8 (B, C, H, W) CPU images for their files; ``close``
    (or leaving the ``with`` block) waits for them and raises the first write error. The
    queue is short: the caller runs at most 2 batches per thread ahead of the disk."""

    def __init__(self, out: Path, workers: int = 4, compress_level: int = 6):
        if workers < 1:
            raise PixelsmithError(f"writer threads must be >= 1, got {workers}")
        self.out, self.compress_level = out, compress_level
        self.jobs: queue.Queue = queue.Queue(maxsize=2 * workers)
        self.errors: list[Exception] = []
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for t in self.threads:
            t.start()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            pixels, paths = job
            try:
                for p, path in zip(pixels, paths, strict=True):
                    save_png(p, path, compress_level=self.compress_level)
            except Exception as e:  # noqa: BLE001 - reported by close()
                self.errors.append(e)

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def put(self, pixels: torch.Tensor, paths: list[Path]) -> None:
        self.jobs.put((pixels, paths))

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join()
        if self.errors:
            raise PixelsmithError(f"writing images to {self.out} failed: {self.errors[0]}")

    def __enter__(self) -> PngWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_grid(model: LoadedModel, num: int, out: str | Path) -> None:
    """Refuse a grid that would not fit in memory (or in a PNG a person can open), and a
    grid path that is a folder, before anything is generated."""
    out = Path(out)
    if out.suffix.lower() not in GRID_SUFFIXES:  # a folder of PNGs: written as it goes
        return
    if out.is_dir():
        raise PixelsmithError(f"--out {out} is a folder; a grid needs a file name such as "
                              f"{out / 'samples.png'} (a folder path without .png writes one "
                              "PNG per image)")
    info = model.objective.info
    pixels = num * max(info.img_size, 1) ** 2
    if pixels > GRID_MAX_PIXELS:
        raise PixelsmithError(
            f"a grid of {num} images of {info.img_size} px is too large for one picture "
            f"(at most {GRID_MAX_PIXELS // max(info.img_size, 1) ** 2} images); write them to "
            "a folder instead: --out DIR (no .png)")


def write_images(images: torch.Tensor, out: str | Path, nrow: int | None = None) -> Path:
    """A ``.png``/``.jpg`` path gets one grid (``nrow`` images a row); any other path
    becomes a folder of files ``000000.png``, ..."""
    out = Path(out)
    if out.suffix.lower() in GRID_SUFFIXES:
        save_grid(images, out, nrow=nrow)
        return out
    out.mkdir(parents=True, exist_ok=True)
    with PngWriter(out) as writer:
        writer.put(to_uint8(images).cpu(), [out / f"{i:06d}.png" for i in range(len(images))])
    return out


@torch.no_grad()
def generate_to_folder(model: LoadedModel, num: int, out: str | Path, *, seed: int = 0,
                       batch_size: int = 500, labels: torch.Tensor | None = None,
                       writers: int = 4) -> Path:
    """Write ``num`` samples as ``out/000000.png``...; the same images as ``generate`` with
    the same seed."""
    if writers < 1:
        raise PixelsmithError(f"writer threads must be >= 1, got {writers}")
    out = Path(out)
    batches = sample_batches(model, num, seed=seed, batch_size=batch_size, labels=labels)
    if out.exists() and not out.is_dir():
        raise PixelsmithError(f"--out {out} is a file; give a folder for the images")
    out.mkdir(parents=True, exist_ok=True)
    from rich.console import Console
    from rich.progress import Progress

    # memory is bounded: inputs drawn a block at a time, a short queue of batches to write
    bar = Progress(console=Console(stderr=True), transient=True,
                   disable=num < PROGRESS_MIN_IMAGES)
    with bar, PngWriter(out, writers, compress_level=1) as writer:  # level 1: fast
        task = bar.add_task(f"writing {num} images", total=num)
        for i, images in batches:
            if writer.failed:
                break
            # uint8 on the device: 4x less to copy to the host than float
            pixels = to_uint8(images).cpu()
            writer.put(pixels, [out / f"{i + j:06d}.png" for j in range(len(pixels))])
            bar.update(task, completed=i + len(pixels))
    return out
