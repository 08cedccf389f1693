"""The one image reader / PNG writer (data/image_files.py) and the [0, 1] <-> uint8 twins."""

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.data.image_files import read_image, save_png, side_by_side
from pixelsmith.data.transforms import rgb_to_gray, uint8_to_unit, unit_to_uint8
from pixelsmith.errors import PixelsmithError, UnreadableImage
from pixelsmith.nn.layers import pad_to_multiple


def test_read_image_channels_alpha_and_gray_rgb(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    img = read_image(tmp_path / "c.png")
    assert img.pixels.dtype == torch.uint8 and img.alpha is None
    assert np.array_equal(img.pixels.permute(1, 2, 0).numpy(), rgb)
    gray = read_image(tmp_path / "c.png", 1).pixels  # Pillow's luma, as rgb_to_gray
    assert torch.equal(gray, rgb_to_gray(img.pixels[None])[0])
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    assert torch.equal(read_image(tmp_path / "g.png", 3).pixels,
                       torch.from_numpy(rgb[..., 0])[None].expand(3, -1, -1))
    rgba = np.dstack([rgb, np.full((5, 7), 100, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    kept = read_image(tmp_path / "a.png", keep_alpha=True)
    assert np.array_equal(kept.alpha, rgba[..., 3]) and torch.equal(kept.pixels, img.pixels)
    onto_white = read_image(tmp_path / "a.png").pixels.permute(1, 2, 0).numpy()
    want = np.round(rgb * (100 / 255) + 255 * (155 / 255))
    assert np.abs(onto_white.astype(float) - want).max() <= 1
    same = np.dstack([rgb[..., 0]] * 3)
    Image.fromarray(same).save(tmp_path / "s.png")
    assert read_image(tmp_path / "s.png").pixels.shape[0] == 3
    assert read_image(tmp_path / "s.png", equal_rgb_is_gray=True).pixels.shape[0] == 1


def test_read_image_errors_name_the_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(UnreadableImage, match=r"cannot read image .*bad\.png \(Unidentified"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(PixelsmithError, match=r"none\.png does not exist"):
        read_image(tmp_path / "none.png")


def test_save_png_round_trip_alpha_and_strip(tmp_path):
    px = torch.randint(0, 256, (3, 4, 6), dtype=torch.uint8)
    alpha = np.full((2, 3), 7, np.uint8)  # grows with the picture (super-resolution)
    path = save_png(px, tmp_path / "sub" / "x.png", alpha)
    back = np.array(Image.open(path))
    assert back.shape == (4, 6, 4) and (back[..., 3] == 7).all()
    assert np.array_equal(back[..., :3], px.permute(1, 2, 0).numpy())
    strip = side_by_side([px, px[:, :, :2]], gap=3)
    assert strip.shape == (3, 4, 11) and (strip[:, :, 6:9] == 255).all()
    assert side_by_side([torch.zeros(2, 1, 2, 2)] * 2, gap=1, fill=1.0)[..., 2].eq(1).all()


def test_unit_uint8_twins_and_pad_to_multiple():
    x = torch.tensor([-0.2, 0.0, 0.5, 127.5 / 255, 1.0, 1.3])
    assert unit_to_uint8(x).tolist() == [0, 0, 128, 128, 255, 255]
    u = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(unit_to_uint8(uint8_to_unit(u)), u)
    t = torch.arange(12.0).view(1, 1, 3, 4)
    p = pad_to_multiple(t, 4, "reflect")
    assert p.shape == (1, 1, 4, 4) and torch.equal(p[..., :3, :], t)
    assert torch.equal(p[..., 3, :], t[..., 1, :])  # reflected about the last row
    assert torch.equal(pad_to_multiple(t, 2)[0, 0, 3], torch.zeros(4))  # constant: zeros
    tiny = torch.ones(1, 1, 1, 1)
    assert torch.equal(pad_to_multiple(tiny, 4, "reflect"), torch.ones(1, 1, 4, 4))  # replicate


def test_gray_with_alpha_stays_gray_when_channels_are_the_files_own(tmp_path):
    la = np.stack([np.full((5, 6), 80, np.uint8), np.full((5, 6), 255, np.uint8)], -1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    assert img.pixels.shape == (1, 5, 6) and int(img.pixels[0, 0, 0]) == 80
