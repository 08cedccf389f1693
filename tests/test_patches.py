"""Restoration training data: device patches with the 8 symmetries, native-size folders,
file lists."""

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.config import load_config
from pixelsmith.data.base import ImageData, load_dataset
from pixelsmith.data.patches import DevicePatches, gather_patches
from pixelsmith.errors import PixelsmithError


def reference_patch(img, top, left, p, sym):
    """Independent: crop, mirror rows (bit 2) / columns (bit 4), then transpose (bit 1)."""
    crop = img[:, top : top + p, left : left + p]
    if sym & 2:
        crop = crop.flip(-2)
    if sym & 4:
        crop = crop.flip(-1)
    if sym & 1:
        crop = crop.transpose(-1, -2)
    return crop


def test_gather_matches_per_image_crops_and_reaches_all_8_symmetries():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 20, 17), generator=g, dtype=torch.uint8)
    p = 6
    idx = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    top = torch.randint(20 - p + 1, (8,), generator=g)
    left = torch.randint(17 - p + 1, (8,), generator=g)
    sym = torch.arange(8)
    ar = torch.arange(p)
    i, j = torch.meshgrid(ar, ar, indexing="ij")
    out = gather_patches(images, idx, top, left, sym, i, j)
    assert out.shape == (8, 3, p, p) and out.dtype == torch.uint8
    for b in range(8):
        ref = reference_patch(images[idx[b]], top[b], left[b], p, int(sym[b]))
        assert torch.equal(out[b], ref)
    # the 8 symmetries of one crop are 8 different patches
    zero = torch.zeros(8, dtype=torch.long)
    same = gather_patches(images, zero, zero, zero, sym, i, j)
    assert len({tuple(s.flatten().tolist()) for s in same}) == 8


def data(n=6, h=12, w=14):
    x = torch.randint(0, 256, (n, 1, h, w), generator=torch.Generator().manual_seed(1),
                      dtype=torch.uint8)
    return ImageData(images=x)


def test_device_patches_epochs_shapes_and_resume():
    d = data()
    a = DevicePatches(d, batch_size=4, patch_size=8, seed=3, device=torch.device("cpu"))
    first = [a.next().x for _ in range(2)]
    assert first[0].shape == (4, 1, 8, 8) and first[0].min() >= -1 and first[0].max() <= 1
    state = a.state_dict()
    rest = [a.next().x for _ in range(3)]
    b = DevicePatches(d, batch_size=4, patch_size=8, seed=3, device=torch.device("cpu"))
    b.load_state_dict(state)
    assert all(torch.equal(x, b.next().x) for x in rest)
    c = DevicePatches(d, batch_size=4, patch_size=8, seed=3, device=torch.device("cpu"))
    assert torch.equal(c.next().x, first[0])  # same seed, same patches


def test_every_image_once_per_epoch():
    # 1x1 "patches" of constant images reveal which image each came from
    x = torch.arange(6, dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 1, 5, 5).contiguous()
    p = DevicePatches(ImageData(images=x), batch_size=3, patch_size=1, seed=0,
                      device=torch.device("cpu"))
    seen = torch.cat([p.next().x.flatten() for _ in range(2)])
    values = ((seen + 1) * 127.5).round().long().sort().values
    assert values.tolist() == list(range(6))


def test_patch_larger_than_images_is_an_error():
    with pytest.raises(PixelsmithError, match="data.patch_size must be in 1..12"):
        DevicePatches(data(), batch_size=2, patch_size=13, seed=0, device=torch.device("cpu"))


def test_native_size_folder_turns_portraits_and_crops_to_common_size(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 30), dtype=np.uint8)  # landscape 30 wide
    b = rng.integers(0, 256, (30, 20), dtype=np.uint8)  # portrait
    c = rng.integers(0, 256, (22, 34), dtype=np.uint8)  # larger landscape
    for name, arr in (("a", a), ("b", b), ("c", c)):
        Image.fromarray(arr).save(tmp_path / f"{name}.png")
    cfg = load_config(None, ["data.name=image-folder", f"data.root={tmp_path}",
                             "data.img_size=0", "data.img_channels=1"]).data
    x = load_dataset(cfg).images
    assert x.shape == (3, 1, 20, 30)
    assert np.array_equal(x[0, 0].numpy(), a)
    assert np.array_equal(x[1, 0].numpy(), b.T)  # portrait turned landscape
    assert np.array_equal(x[2, 0].numpy(), c[1:21, 2:32])  # centre crop, no resampling


def test_file_list_selects_by_relative_path_or_stem(tmp_path):
    (tmp_path / "train").mkdir()
    for name in ("train/1.png", "train/2.png", "3.png"):
        Image.fromarray(np.full((8, 8), int(name[-5]) * 40, np.uint8)).save(tmp_path / name)
    (tmp_path / "list.txt").write_text("# chosen\ntrain/2.png\n3\n")
    base = ["data.name=image-folder", f"data.root={tmp_path}", "data.img_size=0"]
    x = load_dataset(load_config(None, [*base, "data.file_list=list.txt"]).data).images
    assert x[:, 0, 0, 0].tolist() == [80, 120]  # in the list's order
    (tmp_path / "bad.txt").write_text("train/9.png\n")
    with pytest.raises(PixelsmithError, match="1 entries match no single image.*train/9.png"):
        load_dataset(load_config(None, [*base, "data.file_list=bad.txt"]).data)


def test_shards_together_are_the_single_process_batch():
    d = data()
    one = DevicePatches(d, batch_size=6, patch_size=5, seed=2, device=torch.device("cpu"))
    ranks = [DevicePatches(d, batch_size=6, patch_size=5, seed=2, device=torch.device("cpu"),
                           shard=(r, 3)) for r in range(3)]
    for _ in range(3):
        whole = one.next().x
        assert torch.equal(torch.cat([r.next().x for r in ranks]), whole)
