"""Inpainting masks: coverage as requested, seeded, 1 = known, mask files."""

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsmith.data.masks import load_mask_file, make_mask
from pixelsmith.errors import PixelsmithError
from pixelsmith.registry import MASKS


def _missing(mask: torch.Tensor) -> torch.Tensor:
    return 1 - mask.mean(dim=(1, 2, 3))  # (N,) fraction missing


@pytest.mark.parametrize("size", [16, 28, 32, 64])
@pytest.mark.parametrize("coverage", [0.1, 0.25, 0.5])
def test_center_box_coverage_and_place(size, coverage):
    m = make_mask("center-box", coverage=coverage)(3, size, size)
    assert m.shape == (3, 1, size, size) and m.dtype == torch.float32
    side = max(1, round(coverage**0.5 * size))
    assert torch.allclose(_missing(m), torch.full((3,), side * side / size**2))
    assert abs(side * side / size**2 - coverage) <= 2 * coverage**0.5 / size + 1 / size**2
    hole = (m[0, 0] == 0).nonzero()
    top, left = hole.min(0).values.tolist()
    bottom, right = hole.max(0).values.tolist()
    assert (bottom - top + 1, right - left + 1) == (side, side)
    assert top == (size - side) // 2 and left == (size - side) // 2  # centred


@pytest.mark.parametrize("kind", ["random-boxes", "free-form"])
@pytest.mark.parametrize("size", [16, 28, 32, 64])
@pytest.mark.parametrize("coverage", [0.1, 0.25, 0.5])
def test_random_kinds_reach_coverage_within_tolerance(kind, size, coverage):
    m = make_mask(kind, coverage=coverage)(8, size, size,
                                           generator=torch.Generator().manual_seed(size))
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    c = _missing(m)
    assert (c >= coverage).all() and (c <= coverage + 0.03 + 1e-6).all(), c


@pytest.mark.parametrize("kind", ["random-boxes", "free-form"])
def test_seeded_masks_repeat_and_differ_per_image(kind):
    maker = make_mask(kind, coverage=0.3)
    a = maker(4, 32, 32, generator=torch.Generator().manual_seed(7))
    b = maker(4, 32, 32, generator=torch.Generator().manual_seed(7))
    c = maker(4, 32, 32, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # every image gets its own mask
    torch.manual_seed(3)  # no generator: the global RNG, so a saved RNG state repeats it
    d = maker(4, 32, 32)
    torch.manual_seed(3)
    assert torch.equal(d, maker(4, 32, 32))


def test_mask_file_white_is_missing_and_size_checked(tmp_path):
    a = np.zeros((20, 30), np.uint8)
    a[5:10, 3:8] = 255
    Image.fromarray(a).save(tmp_path / "m.png")
    m = load_mask_file(tmp_path / "m.png", 20, 30)
    assert m.shape == (1, 1, 20, 30)
    assert torch.equal(m[0, 0], torch.from_numpy(a != 255).float())
    rgb = np.stack([a] * 3, -1)  # an RGB mask picture reads the same
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert torch.equal(load_mask_file(tmp_path / "rgb.png", 20, 30), m)
    with pytest.raises(PixelsmithError, match=r"m\.png is 30x20 .* image is 32x32"):
        load_mask_file(tmp_path / "m.png", 32, 32)
    with pytest.raises(PixelsmithError, match="does not exist"):
        load_mask_file(tmp_path / "nope.png", 20, 30)
    file_maker = make_mask("file", path=str(tmp_path / "m.png"))
    assert torch.equal(file_maker(2, 20, 30), m.expand(2, 1, 20, 30))


def test_mask_file_threshold_is_gray_128(tmp_path):
    """Anti-aliased or JPEG-saved masks hold grays: >= 128 counts as white (missing)."""
    a = np.array([[0, 100, 127, 128, 200, 255]], np.uint8)
    Image.fromarray(a).save(tmp_path / "g.png")
    m = load_mask_file(tmp_path / "g.png", 1, 6)
    assert m[0, 0, 0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    rgb = np.stack([a[0], a[0], a[0]], -1)[None]  # an RGB picture: the luma decides
    rgb[0, 1] = (200, 200, 200)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert load_mask_file(tmp_path / "c.png", 1, 6)[0, 0, 0].tolist() == [1, 0, 1, 0, 0, 0]
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(PixelsmithError, match=r"cannot read mask file .*bad\.png"):
        load_mask_file(tmp_path / "bad.png", 1, 6)


def test_bad_names_and_parameters_are_clear_errors():
    assert {"center-box", "random-boxes", "free-form", "file"} <= set(MASKS.names())
    with pytest.raises(PixelsmithError, match="unknown mask 'circle'"):
        make_mask("circle")
    with pytest.raises(PixelsmithError, match="no parameter 'radius'"):
        make_mask("center-box", radius=3)
    with pytest.raises(PixelsmithError, match="coverage must be in"):
        make_mask("free-form", coverage=1.5)
