"""`pixelsmith data pack`: real PNG files on disk -> tar shards + manifest, read back exactly,
resumed after an interruption, corrupt shards named, unreadable files skipped and listed."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.config import load_config
from pixelsmith.data import packed
from pixelsmith.data.base import load_dataset
from pixelsmith.data.image_files import read_image
from pixelsmith.errors import PixelsmithError


def make_folder(root: Path, per_class: int = 7, classes=("cat", "dog")) -> Path:
    """Distinct random PNGs of assorted sizes in class folders, plus one corrupt file."""
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            h, w = 16 + 4 * (i % 3), 16 + 3 * (i % 2)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                root / c / f"{i:03d}.png")
    (root / classes[0] / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_folder(tmp_path / "pics")


def test_pack_writes_shards_manifest_and_reads_back_pixel_exact(folder, tmp_path, cli):
    out = tmp_path / "packed"
    r = cli("data", "pack", folder, "--out", out, "--size", "16", "--shard-size", "4")
    assert "skipped  cat/broken.png" in r.stdout
    assert "packed 14 images, 2 classes into 4 shards" in r.stdout
    m = json.loads((out / "manifest.json").read_text())
    assert (m["count"], m["img_size"], m["img_channels"], m["classes"]) == (14, 16, 3,
                                                                          ["cat", "dog"])
    assert [s["count"] for s in m["shards"]] == [4, 4, 4, 2]
    assert m["skipped"][0]["file"] == "cat/broken.png" and len(m["skipped"]) == 1
    for s in m["shards"]:  # the checksums are the files' own
        assert hashlib.sha256((out / s["name"]).read_bytes()).hexdigest() == s["sha256"]
    assert not (out / packed.PROGRESS).exists()

    # every packed picture is exactly what the one image reader makes of its source file
    sources = dict(line.split("\t") for line in (out / "sources.tsv").read_text().split("\n")[1:]
                   if line)
    seen = set()
    for s in m["shards"]:
        with tarfile.open(out / s["name"]) as tar:  # plain tar, WebDataset names
            names = tar.getnames()
        keys = [n[:-4] for n in names if n.endswith(".png")]
        assert names == [f"{k}.{e}" for k in keys for e in ("png", "cls")]
        raw = bytearray((out / s["name"]).read_bytes())  # the in-place reader agrees
        assert [n for n, _, _ in packed._members(raw)] == names
        x, c = packed.read_shard(out, s, 3)
        for key, img, label in zip(keys, x, c, strict=True):
            rel = sources[key]
            assert torch.equal(img, read_image(folder / rel, 3, size=16).pixels), rel
            assert label == ["cat", "dog"].index(rel.split("/")[0])
            seen.add(rel)
    assert len(seen) == 14 and "cat/broken.png" not in seen

    # the in-memory loader reads the same set
    data = load_dataset(load_config(None, ["data.name=packed", f"data.root={out}",
                                           "data.img_channels=3", "data.img_size=16"]).data)
    assert len(data) == 14 and data.class_names == ["cat", "dog"]


def test_interrupted_pack_resumes_and_matches_a_straight_one(folder, tmp_path, monkeypatch):
    straight = packed.pack(str(folder), tmp_path / "a", size=16, shard_size=4, progress=False)
    calls = {"n": 0}
    real = packed._tar_bytes

    def dies_on_third(samples):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-pack
        return real(samples)

    monkeypatch.setattr(packed, "_tar_bytes", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        packed.pack(str(folder), tmp_path / "b", size=16, shard_size=4, progress=False)
    assert not (tmp_path / "b" / "manifest.json").exists()
    assert sorted(p.name for p in (tmp_path / "b").glob("shard-*.tar")) == [
        "shard-00000.tar", "shard-00001.tar"]
    monkeypatch.setattr(packed, "_tar_bytes", real)
    stale = tmp_path / "b" / ".shard-00002.tar.tmp-12345"  # as a kill mid-write leaves it
    stale.write_bytes(b"half a shard")
    resumed = packed.pack(str(folder), tmp_path / "b", size=16, shard_size=4, progress=False)
    assert (resumed.reused, resumed.count, straight.reused) == (2, 14, 0)
    assert not stale.exists()
    ma, mb = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab")
    assert [s["sha256"] for s in ma["shards"]] == [s["sha256"] for s in mb["shards"]]
    # a finished pack is not redone; other settings into the same folder are refused
    assert packed.pack(str(folder), tmp_path / "b", size=16, shard_size=4,
                       progress=False).reused == 4
    with pytest.raises(PixelsmithError, match="other settings"):
        packed.pack(str(folder), tmp_path / "b", size=8, shard_size=4, progress=False)


def test_corrupt_shard_is_named(folder, tmp_path):
    out = tmp_path / "p"
    packed.pack(str(folder), out, size=16, shard_size=4, progress=False)
    shard = out / "shard-00002.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF  # one flipped byte inside the first picture
    shard.write_bytes(bytes(data))
    cfg = load_config(None, ["data.name=packed", f"data.root={out}", "data.img_channels=3",
                             "data.img_size=16"]).data
    with pytest.raises(PixelsmithError, match=r"shard-00002\.tar is corrupt: its SHA-256"):
        load_dataset(cfg)


def test_pack_errors_are_one_line(folder, tmp_path):
    with pytest.raises(PixelsmithError, match="neither a folder nor a data set"):
        packed.pack("no-such-thing", tmp_path / "x", size=16, progress=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f.txt").write_text("x")
    with pytest.raises(PixelsmithError, match="not empty"):
        packed.pack(str(folder), tmp_path / "full", size=16, progress=False)
    out = tmp_path / "ok"
    packed.pack(str(folder), out, size=16, progress=False)
    cfg = load_config(None, ["data.name=packed", f"data.root={out}", "data.img_size=32",
                             "data.img_channels=3"]).data
    with pytest.raises(PixelsmithError, match="data.img_size=32 but the packed set"):
        load_dataset(cfg)


def test_pack_a_named_data_set_and_crop_none(tmp_path):
    r = packed.pack("digits", tmp_path / "d", size=8, channels=1, shard_size=50,
                    progress=False)
    m = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert r.count == m["count"] > 0 and m["img_channels"] == 1
    x, _ = packed.read_shard(tmp_path / "d", m["shards"][0], 1)
    assert x.shape[1:] == (1, 8, 8)

    wide = tmp_path / "wide"
    wide.mkdir()
    a = np.zeros((10, 40, 3), dtype=np.uint8)
    a[:, :20] = 255  # left half white: a centre crop keeps both halves, squeezing too
    Image.fromarray(a).save(wide / "w.png")
    packed.pack(str(wide), tmp_path / "none", size=8, crop="none", progress=False)
    m = json.loads((tmp_path / "none" / "manifest.json").read_text())
    x, c = packed.read_shard(tmp_path / "none", m["shards"][0], 3)
    assert c is None and m["classes"] == []
    assert x[0, :, :, 0].min() == 255 and x[0, :, :, -1].max() == 0  # whole width kept


def test_webdataset_reads_a_pack(folder, tmp_path):
    """The layout is WebDataset's: its reader gives the same pictures and labels."""
    wds = pytest.importorskip("webdataset", reason="webdataset not installed")
    out = tmp_path / "packed"
    packed.pack(str(folder), out, size=16, shard_size=4, progress=False)
    m = json.loads((out / "manifest.json").read_text())
    ours = {}
    for s in m["shards"]:
        x, c = packed.read_shard(out, s, 3)
        with tarfile.open(out / s["name"]) as tar:
            keys = [n[:-4] for n in tar.getnames() if n.endswith(".png")]
        ours |= {k: (img, int(label)) for k, img, label in zip(keys, x, c, strict=True)}
    urls = f"{out}/shard-{{00000..{len(m['shards']) - 1:05d}}}.tar"
    ds = wds.WebDataset(urls, shardshuffle=False).decode("rgb8").to_tuple("__key__", "png",
                                                                           "cls")
    theirs = {key: (torch.from_numpy(img.copy()).permute(2, 0, 1), label) for key, img, label in ds}
    assert theirs.keys() == ours.keys() and len(ours) == 14
    for key, (img, label) in ours.items():
        assert torch.equal(theirs[key][0], img) and theirs[key][1] == label, key
