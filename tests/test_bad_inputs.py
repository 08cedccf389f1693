"""A corpus of awkward and broken image files, made at test time, through every command that
reads a user's pictures: ``restore``, ``restore --task inpaint``, ``reconstruct``,
``interpolate --between`` and training on a folder.

Each command runs as a real subprocess under a timeout (a FIFO opened for reading would
wait forever), and must: end with the expected status, say what it skipped in one
``warning: skipped`` line or stop with one ``error:`` line, print no traceback, and still
process every good file of the folder.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pixelsmith.config import load_config
from pixelsmith.training import Trainer

pytestmark = pytest.mark.drill  # real processes under timeouts: CI runs it after the fast suite

W, H = 24, 20  # every good picture ends up this size (the EXIF one after its rotation)
TIMEOUT = 180
RESTORER = ["data.name=digits", "data.img_size=16", "data.max_images=32", "data.patch_size=8",
            "model.name=dncnn", "model.depth=3", "model.width=4", "train.steps=1",
            "train.batch_size=4", "train.num_samples=2", "train.progress=false",
            "data.img_channels=3"]
INPAINTER = ["data.name=digits", "data.img_size=16", "data.max_images=32",
             "data.img_channels=3", "model.name=inpaint-unet", "model.g_width=4",
             "model.d_width=4", "model.max_width=8", "model.levels=2", "train.steps=1",
             "train.batch_size=4", "train.sample_every=0", "train.num_samples=2",
             "train.checkpoint_every=0", "train.progress=false"]
VAE = ["model.name=vae", "model.z_dim=4", "model.width=8", "data.name=digits",
       "data.img_size=16", "data.max_images=32", "train.steps=1", "train.batch_size=8",
       "train.sample_every=0", "train.checkpoint_every=0", "train.num_samples=4",
       "train.progress=false"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def declared_huge_png(path: Path, side: int = 30000) -> None:
    """A PNG whose header says side x side pixels, with no pixel data: a decompression bomb
    as a decoder sees it before it decodes."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b""))


def make_corpus(folder: Path, *, colour_only: bool = False) -> tuple[set[str], set[str]]:
    """Write the corpus into ``folder``: (stems of the good files, names of the bad ones).
    ``colour_only``: only the good files that are colour and W x H (for one inpainting mask)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    good = {}
    good["cmyk"] = lambda p: Image.fromarray(rgb).convert("CMYK").save(p / "cmyk.jpg")
    good["palette_alpha"] = lambda p: (
        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
        .save(p / "palette_alpha.png", transparency=0))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 20 x 24, shown rotated by 90 degrees: 24 x 20
    good["exif"] = lambda p: Image.fromarray(rgb.transpose(1, 0, 2).copy()).save(
        p / "exif.jpg", exif=exif)
    frames = [Image.fromarray(np.roll(rgb, k, axis=1)) for k in range(3)]
    good["anim"] = lambda p: frames[0].save(p / "anim.gif", save_all=True,
                                            append_images=frames[1:], duration=50, loop=0)
    good["pic"] = lambda p: Image.fromarray(rgb).save(p / "pic.webp")
    if not colour_only:
        deep = rng.integers(0, 65536, (H, W)).astype(np.uint16)
        good["deep16"] = lambda p: Image.fromarray(deep).save(p / "deep16.png")
        good["la"] = lambda p: Image.fromarray(
            rng.integers(0, 256, (H, W, 2), dtype=np.uint8), "LA").save(p / "la.png")
        good["tiny1x1"] = lambda p: Image.new("RGB", (1, 1), (10, 200, 30)).save(
            p / "tiny1x1.png")
    for write in good.values():
        write(folder)
    # the bad ones
    (folder / "empty.png").write_bytes(b"")
    Image.fromarray(rgb).save(folder / "whole.png")
    data = (folder / "whole.png").read_bytes()
    (folder / "whole.png").unlink()
    (folder / "trunc.png").write_bytes(data[: len(data) // 2])
    Image.fromarray(rgb).save(folder / "whole.jpg", quality=95)
    data = (folder / "whole.jpg").read_bytes()
    (folder / "whole.jpg").unlink()
    (folder / "trunc_jpeg.jpg").write_bytes(data[: len(data) // 3])
    (folder / "text.png").write_text("this is not a picture\n")
    declared_huge_png(folder / "bomb.png")
    os.mkfifo(folder / "fifo.png")
    (folder / "dir.png").mkdir()  # a folder named like a picture: walked into, holds nothing
    (folder / "dangling.png").symlink_to("nowhere.png")
    (folder / "loop.png").symlink_to("loop.png")  # a link to itself: ELOOP
    bad = {"empty.png", "trunc.png", "trunc_jpeg.jpg", "text.png", "bomb.png", "fifo.png",
           "dangling.png", "loop.png"}
    return set(good), bad


def clean(proc, *, status: int) -> list[str]:
    """stderr lines; asserts the status, no traceback and every line a message of ours."""
    assert proc.returncode == status, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    stray = [x for x in lines if not x.startswith(("warning: ", "error: ", "note: "))]
    assert not stray, proc.stderr
    return lines


def skipped_names(lines: list[str]) -> set[str]:
    return {Path(x.split("cannot read image ", 1)[1].split(" (")[0]).name
            for x in lines if x.startswith("warning: skipped cannot read image ")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-inputs-runs")
    Trainer(load_config(None, RESTORER), root / "restorer").fit()
    Trainer(load_config(None, INPAINTER), root / "inpainter").fit()
    Trainer(load_config(None, VAE), root / "vae").fit()
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "pics"
    return folder, *make_corpus(folder)


def test_restore_skips_every_bad_file_and_restores_the_rest(runs, corpus, tmp_path, cli):
    folder, good, bad = corpus
    proc = cli("restore", "-c", runs / "restorer", "-i", folder, "-o", tmp_path / "out",
               "--tile", "0", ok=False, timeout=TIMEOUT)
    lines = clean(proc, status=1)  # 1: done, but files were skipped
    assert skipped_names(lines) == bad
    assert lines[-1].startswith("error: skipped 8 unreadable file(s)")
    assert {p.stem for p in (tmp_path / "out").iterdir()} == good
    assert Image.open(tmp_path / "out" / "exif.png").size == (W, H)  # EXIF rotation applied


def test_inpaint_skips_every_bad_file_and_fills_the_rest(runs, tmp_path, cli):
    folder = tmp_path / "pics"
    good, bad = make_corpus(folder, colour_only=True)
    mask = np.zeros((H, W), np.uint8)
    mask[5:12, 6:14] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    proc = cli("restore", "--task", "inpaint", "-c", runs / "inpainter", "-i", folder,
               "--mask", tmp_path / "mask.png", "-o", tmp_path / "out", ok=False,
               timeout=TIMEOUT)
    lines = clean(proc, status=1)
    assert skipped_names(lines) == bad
    assert {p.stem for p in (tmp_path / "out").iterdir()} == good


def test_reconstruct_and_training_on_the_folder_skip_bad_files(runs, corpus, tmp_path, cli):
    folder, good, bad = corpus
    proc = cli("reconstruct", runs / "vae", "-i", folder, "-o", tmp_path / "rec.png",
               ok=False, timeout=TIMEOUT)
    (line,) = clean(proc, status=0)
    assert line.startswith("warning: ") and "skipped 8 unreadable image file(s)" in line
    assert f"wrote {len(good)} originals" in proc.stdout
    config = tmp_path / "folder.yaml"
    config.write_text(f"data:\n  name: image-folder\n  root: {folder}\n  img_size: 16\n"
                      "  img_channels: 3\nmodel:\n  z_dim: 4\n  g_width: 4\n  d_width: 4\n"
                      "train:\n  steps: 1\n  batch_size: 4\n  num_samples: 4\n"
                      "  progress: false\n")
    proc = cli("train", config, "--run-dir", tmp_path / "run", ok=False, timeout=TIMEOUT)
    (line,) = clean(proc, status=0)
    assert "skipped 8 unreadable image file(s)" in line
    assert f"image-folder {folder}: {len(good)} images" in (
        tmp_path / "run" / "checkpoints" / "step_0000001" / "meta.json").read_text()


@pytest.mark.parametrize("name, says", [("fifo.png", "a FIFO"), ("bomb.png", "--max-pixels")])
def test_interpolate_between_a_bad_file_is_one_line(runs, corpus, name, says, cli):
    folder, _, _ = corpus
    proc = cli("interpolate", runs / "vae", "--between", folder / "cmyk.jpg", folder / name,
               "-o", folder.parent / "walk.png", ok=False, timeout=TIMEOUT)
    (line,) = clean(proc, status=2)
    assert line.startswith(f"error: cannot read image {folder / name}") and says in line


def test_one_huge_file_names_the_limit_and_how_to_raise_it(runs, corpus, tmp_path, cli):
    folder, _, _ = corpus
    proc = cli("restore", "-c", runs / "restorer", "-i", folder / "bomb.png", "-o", tmp_path,
               ok=False, timeout=TIMEOUT)
    (line,) = clean(proc, status=2)
    assert "30000 x 30000 = 900 megapixels, over the limit of 200" in line
    assert "pixelsmith --max-pixels 900000000" in line and "PIXELSMITH_MAX_PIXELS" in line
