"""Data loaders on real files: embedded digits, generated image folders, the shared data sets."""

from __future__ import annotations

import gzip
import re
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pixelsmith.config import DataConfig
from pixelsmith.data import ImageData, load_dataset
from pixelsmith.data.digits import digits_uint8
from pixelsmith.data.transforms import image_to_tensor, resize_batch
from pixelsmith.errors import PixelsmithError


def load(**kw) -> ImageData:
    return load_dataset(DataConfig(**kw))


# ---- digits ------------------------------------------------------------------------------

def test_digits_shapes_labels_and_split():
    train, test = load(name="digits", img_size=32), load(name="digits", split="test", img_size=32)
    assert train.images.shape == (1500, 1, 32, 32) and test.images.shape == (297, 1, 32, 32)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.class_names == [str(i) for i in range(10)] and train.num_classes == 10
    assert set(train.labels.tolist()) == set(range(10)) == set(test.labels.tolist())
    assert train.images.max() == 255 and train.images.min() == 0
    assert "test" in test.source and "1500" in test.source
    rgb = load(name="digits", img_size=16, img_channels=3, max_images=10)
    assert rgb.images.shape == (10, 3, 16, 16)
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 2])  # gray repeated into RGB


def test_digits_upsampling_keeps_the_8x8_picture():
    src, _ = digits_uint8()
    big = load(name="digits", img_size=32).images.float()  # the first 1,500 of src
    src = src[:1500].float()
    per_image = (big.mean((1, 2, 3)) - src.mean((1, 2, 3))).abs()
    assert per_image.max() < 4  # brightness survives (out of 255)
    blocks = F.avg_pool2d(big, 4)  # back to 8x8: the same digit, only smoothed
    corr = torch.corrcoef(torch.stack([blocks.flatten(), src.flatten()]))[0, 1]
    assert corr > 0.98
    assert len(torch.unique(big)) > 100  # smooth interpolation, not 17 blocky grey levels


# ---- transforms and image folders --------------------------------------------------------

def _write_every_mode(root: Path) -> dict[str, Path]:
    """One 8x8 file per Pillow mode the loader must handle, in nested class folders."""
    files: dict[str, Path] = {}

    def save(rel: str, img: Image.Image, **kw) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, **kw)
        files[rel] = path

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255
    rgba[:, :4, 3] = 0  # left half fully transparent: must come out white
    a16 = np.zeros((8, 8), np.uint16)
    a16[:, 2:4], a16[:, 4:6], a16[:, 6:] = 257 * 7, 32768, 65535
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in Pillow's conversion
    save("gray/l.png", Image.new("L", (8, 8), 77))
    save("gray/one_bit.png", Image.new("1", (8, 8), 1))
    save("gray/sub/deeper/sixteen.png", Image.fromarray(a16))  # nested two levels down
    save("gray/la.png", Image.new("LA", (8, 8), (90, 0)))  # transparent: white
    save("color/rgb.bmp", Image.new("RGB", (8, 8), (10, 20, 30)))
    save("color/rgba.png", Image.fromarray(rgba))
    save("color/palette.gif", pal)
    save("color/cmyk.tif", cmyk)
    save("color/photo.JPG", Image.new("RGB", (8, 8), (200, 100, 50)), quality=95)
    save("color/web.webp", Image.new("RGB", (8, 8), (1, 2, 3)), lossless=True)
    return files


def test_image_folder_every_mode_with_labels(tmp_path: Path):
    files = _write_every_mode(tmp_path)
    data = load(name="image-folder", root=str(tmp_path), img_size=8, img_channels=3, labels=True)
    assert data.class_names == ["color", "gray"]
    assert data.images.shape == (len(files), 3, 8, 8) and data.images.dtype == torch.uint8
    order = sorted(files, key=str)  # sorted relative paths: color/... before gray/...
    px = {name: data.images[i] for i, name in enumerate(order)}
    assert data.labels.tolist() == [0 if n.startswith("color") else 1 for n in order]
    assert px["gray/l.png"].unique().tolist() == [77]
    assert px["gray/one_bit.png"].unique().tolist() == [255]
    assert px["gray/la.png"].unique().tolist() == [255]
    sixteen = px["gray/sub/deeper/sixteen.png"][0, 0].tolist()  # scaled, not clipped
    assert sixteen == [0, 0, 7, 7, 128, 128, 255, 255]
    assert px["color/rgb.bmp"][:, 0, 0].tolist() == [10, 20, 30]
    assert px["color/rgba.png"][:, 0, 0].tolist() == [255, 255, 255]  # transparent -> white
    assert px["color/rgba.png"][:, 0, 7].tolist() == [255, 0, 0]
    assert px["color/palette.gif"][:, 3, 3].tolist() == [10, 200, 30]
    assert px["color/cmyk.tif"][:, 3, 3].tolist() == [255, 0, 0]
    assert px["color/web.webp"][:, 3, 3].tolist() == [1, 2, 3]
    assert (px["color/photo.JPG"][:, 3, 3].int() - torch.tensor([200, 100, 50])).abs().max() <= 3
    gray = load(name="image-folder", root=str(tmp_path), img_size=8, img_channels=1)
    assert gray.labels is None and gray.images.shape == (len(files), 1, 8, 8)
    # RGB -> gray is 601 luma exactly as Pillow computes it: red (255, 0, 0) -> 76
    assert gray.images[order.index("color/rgba.png"), 0, 0, 7] == 76


def test_resize_crops_the_centre_square_and_batches_agree(tmp_path: Path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :10] = a[:, 30:] = (255, 0, 0)  # red bands outside the centre square
    a[:, 10:30] = (0, 0, 255)
    small = image_to_tensor(Image.fromarray(a), 10, 3)
    assert small.shape == (3, 10, 10) and small[2].min() > 200
    # the antialiasing kernel may touch the bands at the crop edge; nothing of them inside
    assert small[0, :, 1:-1].max() == 0 and small[0].max() < 40
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (6, 3, 12, 12), dtype=np.uint8)
    pil_gray = np.stack([np.asarray(Image.fromarray(x.transpose(1, 2, 0)).convert("L"))
                         for x in noise])
    batch_gray = resize_batch(torch.from_numpy(noise), 12, 1)
    assert torch.equal(batch_gray[:, 0], torch.from_numpy(pil_gray))  # same luma both paths
    up = resize_batch(torch.from_numpy(noise), 24, 3)
    assert up.shape == (6, 3, 24, 24) and up.dtype == torch.uint8


def test_image_folder_skips_bad_files_with_one_warning(tmp_path: Path):
    for i in range(3):
        Image.new("RGB", (16, 12), (i * 50, 0, 0)).save(tmp_path / f"ok{i}.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    good = (tmp_path / "ok0.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(good[: len(good) // 2])  # truncated
    (tmp_path / "fake.jpg").write_text("text with an image name")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(name="image-folder", root=str(tmp_path), img_size=8, img_channels=3)
    assert data.images.shape == (3, 3, 8, 8)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert all(name in message for name in ("broken.png", "fake.jpg", "notes.txt"))
    # max_images stops early: the bad files sort first but the good ones come after
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        two = load(name="image-folder", root=str(tmp_path), img_size=8, max_images=2)
    assert len(two) == 2
    assert "broken.png" in str(caught[0].message) and "ok2.png" not in str(caught[0].message)


def test_image_folder_max_images_decodes_only_what_it_keeps(tmp_path: Path):
    for i in range(5):
        Image.new("L", (8, 8), i * 40).save(tmp_path / f"{i}.png")
    (tmp_path / "9_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the corrupt file sorts last: never opened, no warning
        data = load(name="image-folder", root=str(tmp_path), img_size=8, max_images=3)
    assert data.images[:, 0, 0, 0].tolist() == [0, 40, 80]


def test_image_folder_errors(tmp_path: Path):
    with pytest.raises(PixelsmithError, match="does not exist"):
        load(name="image-folder", root=str(tmp_path / "nope"))
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(PixelsmithError, match="not a folder"):
        load(name="image-folder", root=str(tmp_path / "file.png"))
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("hi")
    with pytest.raises(PixelsmithError, match=f"no image files .*{empty}"):
        load(name="image-folder", root=str(empty))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_text("nope")
    with pytest.raises(PixelsmithError, match="none of the 1 image files"):
        with pytest.warns(UserWarning, match="x.png"):
            load(name="image-folder", root=str(bad))
    loose = tmp_path / "loose"
    (loose / "cats").mkdir(parents=True)
    Image.new("L", (4, 4)).save(loose / "cats" / "a.png")
    Image.new("L", (4, 4)).save(loose / "stray.png")
    with pytest.raises(PixelsmithError, match="stray.png"):
        load(name="image-folder", root=str(loose), labels=True)


# ---- MNIST / Fashion-MNIST from the shared copy -------------------------------------------

def _first_idx_image(gz: Path) -> np.ndarray:
    with gzip.open(gz) as f:
        return np.frombuffer(f.read(16 + 784)[16:], np.uint8).reshape(28, 28)


def test_mnist_train_and_test(shared_data: Path, isolated_cache: Path):
    train = load(name="mnist", root=str(shared_data), img_size=28)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels[0] == 5 and train.labels.min() == 0 and train.labels.max() == 9
    assert train.class_names == [str(i) for i in range(10)]
    raw = _first_idx_image(shared_data / "MNIST/raw/train-images-idx3-ubyte.gz")
    assert np.array_equal(train.images[0, 0].numpy(), raw)
    test = load(name="mnist", root=str(shared_data), split="test", img_size=32, img_channels=3)
    assert test.images.shape == (10000, 3, 32, 32) and test.labels[0] == 7
    assert any(isolated_cache.rglob("train-images-idx3-ubyte"))  # unpacked there, not in root


def test_fashion_mnist(shared_data: Path):
    data = load(name="fashion-mnist", root=str(shared_data), img_size=28)
    assert data.images.shape == (60000, 1, 28, 28) and data.labels[0] == 9
    assert data.class_names[9] == "Ankle boot"
    assert set(data.labels.unique().tolist()) == set(range(10))
    small = load(name="fashion-mnist", root=str(shared_data), split="test", max_images=50)
    assert small.images.shape == (50, 1, 32, 32) and data.images[0].float().mean() > 0


def test_mnist_missing_without_download_is_clear_and_offline(tmp_path, monkeypatch,
                                                            isolated_cache):
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(PixelsmithError, match=r"MNIST not found under .*MNIST/raw.*download=true"):
        load(name="mnist", root=str(tmp_path))
    # no data.root: $PIXELSMITH_DATA, else the default root under the cache folder
    monkeypatch.delenv("PIXELSMITH_DATA", raising=False)
    default = re.escape(str(isolated_cache / "data" / "FashionMNIST" / "raw"))
    with pytest.raises(PixelsmithError, match=rf"under {default} .*the default data root"):
        load(name="fashion-mnist")
    monkeypatch.setenv("PIXELSMITH_DATA", str(tmp_path))
    env = re.escape(str(tmp_path.resolve() / "FashionMNIST" / "raw"))
    with pytest.raises(PixelsmithError, match=rf"under {env} .*\$PIXELSMITH_DATA"):
        load(name="fashion-mnist")
    with pytest.raises(PixelsmithError, match="CIFAR-10 not found"):
        load(name="cifar10", root=str(tmp_path))
    assert attempts == [] and not any(tmp_path.iterdir())


def test_bad_split_and_channels(tmp_path: Path):
    with pytest.raises(PixelsmithError, match="data.split"):
        load(name="mnist", root=str(tmp_path), split="val")
    with pytest.raises(PixelsmithError, match="img_channels"):
        load(name="digits", img_channels=2)


# ---- CIFAR-10 from the shared image folder ------------------------------------------------

def test_cifar10_image_folder(shared_data: Path):
    root = shared_data / "cifar10"
    data = load(name="cifar10", root=str(root), img_size=32, img_channels=3, max_images=24)
    assert data.images.shape == (24, 3, 32, 32)
    assert data.class_names[0] == "airplane" and data.class_names[-1] == "truck"
    assert len(set(data.labels.tolist())) >= 6  # original order: classes interleave
    for i in (0, 1, 23):  # file name = original index; pixel-equal to reading it directly
        (path,) = (root / "train").glob(f"*/{i:05d}.png")
        assert data.class_names[data.labels[i]] == path.parent.name
        expected = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)
        assert np.array_equal(data.images[i].numpy(), expected)
    again = load(name="cifar10", root=str(root), img_size=32, img_channels=3, max_images=24)
    assert "cache" in again.source and torch.equal(again.images, data.images)
    # the shared data root works too (root/cifar10/train), here gray and upsampled
    gray = load(name="cifar10", root=str(shared_data), img_size=40, max_images=5)
    assert gray.images.shape == (5, 1, 40, 40) and torch.equal(gray.labels, data.labels[:5])


def test_cifar10_test_split_is_a_clear_error(shared_data: Path):
    with pytest.raises(PixelsmithError, match="test split is not present"):
        load(name="cifar10", root=str(shared_data / "cifar10"), split="test")
