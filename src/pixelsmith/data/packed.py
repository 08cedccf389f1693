"""Packed data sets: a folder of WebDataset-style tar shards plus ``manifest.json``.

``pixelsmith data pack`` decodes a folder (or a registered data set) once, at the training
size, and writes ``shard-00000.tar`` ... Each shard is a plain POSIX tar of
``<key>.png`` (lossless, so reading back is pixel-exact) and, for labelled sets,
``<key>.cls`` (the class index as text): the WebDataset layout, so ``tar``, Python's
``tarfile`` and ``webdataset.WebDataset`` read it. ``<key>`` is the picture's index in the
sorted source listing; ``sources.tsv`` maps keys back to files. Pictures are written in a
fixed shuffled order, so every shard is a sample of the whole set and streaming needs only a
modest shuffle buffer. The manifest holds the count, size, channels, classes and each
shard's count and SHA-256; readers check the SHA-256 of every shard they open.

Packing is resumable: each shard is written to a temporary name and renamed, its record
goes to ``.pack-progress/`` beside it, and a rerun with the same settings keeps the shards
already done. Unreadable pictures are skipped and listed in the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pixelsmith.config.schema import DataConfig
from pixelsmith.data.base import ImageData
from pixelsmith.data.image_files import read_image
from pixelsmith.data.transforms import check_shape_args
from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.registry import DATASETS

FORMAT = "pixelsmith-packed"
VERSION = 1
MANIFEST = "manifest.json"
PROGRESS = ".pack-progress"
ORDER_SEED = 0  # the fixed shuffle of pictures into shards (keys keep the source order)


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.tar"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _remove_temps(folder: Path) -> None:
    """Temporaries left by an interrupted ``_atomic_write`` (never part of the pack)."""
    for tmp in folder.glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)


def _png(pixels: torch.Tensor) -> bytes:
    a = pixels.permute(1, 2, 0).numpy()  # (C, H, W) -> (H, W, C)
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(buf, format="PNG")
    return buf.getvalue()


def _tar_bytes(samples: list[tuple[str, bytes, int | None]]) -> bytes:
    """A deterministic POSIX tar (no times, owners) of ``key.png`` [+ ``key.cls``] members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, png, label in samples:
            members = [(f"{key}.png", png)]
            if label is not None:
                members.append((f"{key}.cls", str(label).encode()))
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---------------------------------------------------------------------------- reading
def find_packed(root: str | os.PathLike | None) -> Path:
    """The packed folder ``data.root`` names: a path, or a folder under the data root."""
    from pixelsmith.data.roots import data_root

    if root is None or str(root) == "":
        raise PixelsmithError("data.root is not set; set it to the folder `pixelsmith data "
                              "pack` wrote (or its name under the data root)")
    path = Path(root).expanduser()
    if not path.exists() and not path.is_absolute() and (data_root() / path).exists():
        path = data_root() / path
    if not (path / MANIFEST).is_file():
        raise PixelsmithError(f"data.root {path} holds no {MANIFEST}: not a packed data set "
                              "(make one with `pixelsmith data pack FOLDER --out DIR`)")
    return path


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PixelsmithError(f"{path}: cannot read the manifest ({e})") from None
    if m.get("format") != FORMAT or m.get("version") != VERSION:
        raise PixelsmithError(f"{path}: not a {FORMAT} v{VERSION} manifest")
    return m


def read_shard(folder: Path, entry: dict, img_channels: int, lo: int = 0,
               hi: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pictures lo..hi of one shard as uint8 (n, C, S, S) and labels, after checking the
    shard's SHA-256 against the manifest (a mismatch is an error naming the shard)."""
    path = folder / entry["name"]
    try:  # one copy in memory: read into a writable buffer (the PNG decoder reads it in place)
        buf = bytearray(path.stat().st_size)
        got = 0
        with open(path, "rb", buffering=0) as f, memoryview(buf) as view:
            while got < len(buf) and (n := f.readinto(view[got:])):
                got += n
    except OSError as e:
        raise PixelsmithError(f"packed shard {path} cannot be read ({e.strerror}); "
                              "restore it or pack again") from None
    if got != len(buf):  # shortened while being read: the checksum below names it
        del buf[got:]
    digest = hashlib.sha256(buf).hexdigest()
    if digest != entry["sha256"]:
        raise PixelsmithError(f"packed shard {path} is corrupt: its SHA-256 {digest[:12]}... is "
                              f"not the manifest's {entry['sha256'][:12]}...; restore the file "
                              "or pack again (a rerun rewrites only missing shards: delete it)")
    hi = entry["count"] if hi is None else hi
    images, labels, index = [], [], -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchvision.io's, 0.29 on
        for name, off, size in _members(buf):
            ext = name.rsplit(".", 1)[-1]
            if ext == "png":
                index += 1
            if index >= hi:
                break
            if index < lo:
                continue
            if ext == "png":
                images.append(_decode_png(torch.frombuffer(buf, dtype=torch.uint8, offset=off,
                                                           count=size)))
            elif ext == "cls":
                labels.append(int(bytes(buf[off : off + size])))
    if not images or images[0].shape[0] != img_channels or len(images) != hi - lo:
        raise PixelsmithError(f"packed shard {path}: holds {len(images)} pictures of "
                              f"{images[0].shape[0] if images else '?'} channels where the "
                              f"manifest says {hi - lo} of {img_channels}; pack again")
    return torch.stack(images), torch.tensor(labels, dtype=torch.long) if labels else None


def _members(buf: bytearray):
    """(name, data offset, size) of each file in a POSIX tar, read in place: ~50x less
    Python than ``tarfile`` per member. Only for shards whose SHA-256 matched (our own
    ustar files); anything else there (pax headers from a re-packing tool) goes through
    ``tarfile``."""
    off = 0
    while off + 512 <= len(buf):
        head = bytes(buf[off : off + 512])
        if not head.strip(b"\0"):
            return  # the end-of-archive blocks
        if head[156:157] not in (b"0", b"\0") or head[257:262] != b"ustar":
            yield from _members_tarfile(buf, off)
            return
        name = head[0:100].split(b"\0", 1)[0].decode()
        prefix = head[345:500].split(b"\0", 1)[0].decode()
        size = int(head[124:136].strip(b"\0 ") or b"0", 8)
        yield (f"{prefix}/{name}" if prefix else name), off + 512, size
        off += 512 + (size + 511) // 512 * 512


def _members_tarfile(buf: bytearray, start: int):
    with tarfile.open(fileobj=io.BytesIO(bytes(buf[start:])), mode="r:") as tar:
        for m in tar:
            if m.isfile():
                yield m.name, start + m.offset_data, m.size


def _decode_png(raw: torch.Tensor) -> torch.Tensor:
    """One packed PNG (our own: L or RGB, 8 bits; uint8 bytes) -> uint8 (C, H, W).
    torchvision's libpng call takes ~60 us for 32 px where Pillow takes ~110 us."""
    try:
        from torchvision.io import ImageReadMode, decode_png
    except ImportError:  # torchvision.io's decoders are deprecated: Pillow when they go
        a = np.asarray(Image.open(io.BytesIO(raw.numpy().tobytes())))
        return torch.from_numpy((a[None] if a.ndim == 2 else a.transpose(2, 0, 1)).copy())
    return decode_png(raw, ImageReadMode.UNCHANGED)


def check_config(cfg: DataConfig, m: dict, folder: Path) -> None:
    for key, have in (("img_size", m["img_size"]), ("img_channels", m["img_channels"])):
        if getattr(cfg, key) != have:
            raise PixelsmithError(f"data.{key}={getattr(cfg, key)} but the packed set {folder} "
                                  f"was packed with {key} {have}; set data.{key}={have} or pack "
                                  "again with other --size/--channels")


@DATASETS.register("packed", help="shards written by `pixelsmith data pack` (data.root = the "
                   "packed folder); streamed when large (data.stream)")
def load_packed(cfg: DataConfig) -> ImageData:
    """The whole packed set in memory (the streamed path is data/streaming.py)."""
    folder = find_packed(cfg.root)
    m = read_manifest(folder)
    check_config(cfg, m, folder)
    want = m["count"] if cfg.max_images is None else min(cfg.max_images, m["count"])
    images, labels, have = [], [], 0
    for entry in m["shards"]:
        if have >= want:
            break
        x, c = read_shard(folder, entry, m["img_channels"], 0, min(entry["count"], want - have))
        images.append(x)
        labels.append(c)
        have += x.shape[0]
    classes = m["classes"]
    return ImageData(torch.cat(images), torch.cat(labels) if classes else None, list(classes),
                     f"packed {folder}: {want} images in memory")


# ---------------------------------------------------------------------------- writing
@dataclass
class PackReport:
    out: Path
    count: int = 0
    shards: int = 0
    reused: int = 0  # shards kept from an interrupted run
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    classes: list[str] = field(default_factory=list)


def _folder_items(root: Path, labels: bool | None):
    from pixelsmith.data.image_folder import folder_classes, scan_folder

    paths, _ = scan_folder(root)
    if not paths:
        raise PixelsmithError(f"no image files under {root}; nothing to pack")
    rel = [p.relative_to(root) for p in paths]
    classes, cls = folder_classes(root, paths, labels, flag="--labels", off="use --no-labels")
    digest = hashlib.sha256()
    for p, r in zip(paths, rel, strict=True):
        digest.update(f"{r.as_posix()}\t{p.stat().st_size}\n".encode())
    return paths, [r.as_posix() for r in rel], cls, classes, digest.hexdigest()


def _decode(path: Path, size: int, channels: int, crop: str) -> torch.Tensor | str:
    try:
        if crop == "center":
            return read_image(path, channels, size=size).pixels
        pix = read_image(path, channels).pixels  # the whole picture, squeezed to a square
        a = pix.permute(1, 2, 0).numpy()
        img = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
        img = img.resize((size, size), Image.Resampling.BICUBIC)
        a = np.array(img)
        return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())
    except UnreadableImage as e:
        return getattr(e, "reason", str(e))
    except PixelsmithError as e:  # vanished since the listing
        return str(e)


def pack(source: str, out: str | os.PathLike, *, size: int, channels: int = 3,
         crop: str = "center", shard_size: int = 2000, labels: bool | None = None,
         data_root: str | None = None, workers: int | None = None,
         progress: bool = True) -> PackReport:
    """Pack a folder of pictures (or a registered data set's name) into ``out``."""
    check_shape_args(size, channels)
    if crop not in ("center", "none"):
        raise PixelsmithError(f"--crop must be center or none, got {crop!r}")
    if shard_size < 1:
        raise PixelsmithError(f"--shard-size must be >= 1, got {shard_size}")
    out = Path(out).expanduser()
    src = Path(source).expanduser()
    if src.is_dir():
        src = src.resolve()
        paths, rel, cls, classes, digest = _folder_items(src, labels)
        tensors, what = None, str(src)
    elif source in DATASETS.names():
        data = DATASETS.get(source)(DataConfig(name=source, root=data_root, img_size=size,
                                               img_channels=channels))
        tensors, cls, classes = data.images, data.labels, data.class_names
        cls = None if cls is None else cls.tolist()
        paths, rel = None, [f"{source}[{i}]" for i in range(len(data))]
        digest = hashlib.sha256(tensors.numpy().tobytes()).hexdigest()
        what = data.source
    else:
        raise PixelsmithError(f"{source!r} is neither a folder nor a data set name "
                              f"({', '.join(DATASETS.names())})")
    n = len(rel)
    params = {"source": what, "listing_sha256": digest, "count_listed": n, "img_size": size,
              "img_channels": channels, "crop": crop, "shard_size": shard_size,
              "classes": classes, "order_seed": ORDER_SEED}
    report = PackReport(out=out, classes=classes)
    progress_dir = out / PROGRESS
    if (out / MANIFEST).is_file():
        m = read_manifest(out)
        if m["params"] != params:
            raise PixelsmithError(f"{out} already holds a pack made from other settings or files; "
                                  "choose another --out or delete it")
        report.count, report.shards, report.reused = m["count"], len(m["shards"]), len(m["shards"])
        report.skipped = [(s["file"], s["reason"]) for s in m["skipped"]]
        return report
    out.mkdir(parents=True, exist_ok=True)
    if (progress_dir / "params.json").is_file():
        if json.loads((progress_dir / "params.json").read_text()) != params:
            raise PixelsmithError(f"{out} holds an interrupted pack made from other settings or "
                                  "files; rerun with those, choose another --out or delete it")
    elif any(p.name != PROGRESS for p in out.iterdir()):
        raise PixelsmithError(f"--out {out} is not empty and holds no pack; choose an empty or "
                              "new folder")
    progress_dir.mkdir(exist_ok=True)
    _remove_temps(out)  # an interrupted run's half-written shard or record
    _remove_temps(progress_dir)
    _atomic_write(progress_dir / "params.json", json.dumps(params).encode())

    order = torch.randperm(n, generator=torch.Generator().manual_seed(ORDER_SEED)).tolist()
    num_shards = (n + shard_size - 1) // shard_size
    workers = workers or min(8, os.cpu_count() or 1)
    records = []
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=False)
        task = bar.add_task(f"packing {n} images", total=n)
        bar.start()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for s in range(num_shards):
                idx = order[s * shard_size : (s + 1) * shard_size]
                rec_path = progress_dir / f"{shard_name(s)}.json"
                tar_path = out / shard_name(s)
                if rec_path.is_file() and tar_path.is_file():
                    rec = json.loads(rec_path.read_text())
                    if rec["bytes"] == tar_path.stat().st_size:
                        records.append(rec)
                        report.reused += 1
                        if bar is not None:
                            bar.update(task, advance=len(idx))
                        continue
                if tensors is not None:
                    pixels = [tensors[i] for i in idx]
                else:
                    pixels = list(pool.map(lambda i: _decode(paths[i], size, channels, crop), idx))
                good = [(i, p) for i, p in zip(idx, pixels, strict=True) if not isinstance(p, str)]
                pngs = list(pool.map(lambda ip: _png(ip[1]), good))
                samples = [(f"{i:09d}", png, None if cls is None else cls[i])
                           for (i, _), png in zip(good, pngs, strict=True)]
                data = _tar_bytes(samples)
                _atomic_write(tar_path, data)
                rec = {"name": shard_name(s), "count": len(samples), "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest(),
                       "keys": [int(k) for k, _, _ in samples],
                       "skipped": [[rel[i], p] for i, p in zip(idx, pixels, strict=True)
                                   if isinstance(p, str)]}
                _atomic_write(rec_path, json.dumps(rec).encode())
                records.append(rec)
                if bar is not None:
                    bar.update(task, advance=len(idx))
    finally:
        if bar is not None:
            bar.stop()
    return _finish(out, params, records, rel, report)


def _finish(out: Path, params: dict, records: list[dict], rel: list[str],
            report: PackReport) -> PackReport:
    shards = [{k: r[k] for k in ("name", "count", "bytes", "sha256")} for r in records
              if r["count"]]
    skipped = [{"file": f, "reason": why} for r in records for f, why in r["skipped"]]
    count = sum(s["count"] for s in shards)
    if not count:
        raise PixelsmithError(f"none of the {len(rel)} pictures could be read (e.g. "
                              f"{skipped[0]['file']}: {skipped[0]['reason']}); nothing packed")
    for r in records:  # shards left empty by unreadable files are not part of the pack
        if not r["count"]:
            (out / r["name"]).unlink(missing_ok=True)
    lines = "".join(f"{k:09d}\t{rel[k]}\n" for r in records for k in r["keys"])
    _atomic_write(out / "sources.tsv", ("key\tsource\n" + lines).encode())
    manifest = {"format": FORMAT, "version": VERSION,
                "layout": "webdataset tar shards: <key>.png (+ <key>.cls class index)",
                "count": count, "img_size": params["img_size"],
                "img_channels": params["img_channels"], "classes": params["classes"],
                "crop": params["crop"], "source": params["source"], "shards": shards,
                "skipped": skipped, "params": params}
    _atomic_write(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    for p in sorted((out / PROGRESS).iterdir()):
        p.unlink()
    (out / PROGRESS).rmdir()
    _remove_temps(out)
    report.count, report.shards = count, len(shards)
    report.skipped = [(s["file"], s["reason"]) for s in skipped]
    return report
