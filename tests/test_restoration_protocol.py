"""The papers' scoring protocol: BT.601 Y as MATLAB, shaving, PSNR/SSIM on [0, 255] checked
against scikit-image and hand values, and reading the standard test sets."""

import math

import pytest
import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.restoration_protocol import (
    TEST_SETS,
    load_test_set,
    psnr255,
    quantise,
    rgb_to_y,
    shave,
    sr_scores,
    ssim255,
    y8,
)


def _pair(seed=0, shape=(2, 1, 48, 40), noise=20.0):
    g = torch.Generator().manual_seed(seed)
    ref = torch.rand(shape, generator=g, dtype=torch.float64) * 255
    x = (ref + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 255)
    return x, ref


def test_rgb_to_y_by_hand():
    px = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [0.5, 0.25, 1.0]]).T.reshape(1, 3, 1, 4)
    y = rgb_to_y(px).flatten().tolist()
    expected = [235.0, 16.0, 16 + 65.481, 16 + 65.481 * 0.5 + 128.553 * 0.25 + 24.966]
    assert y == pytest.approx(expected, abs=1e-9)
    gray = torch.rand(1, 1, 3, 3, dtype=torch.float64)
    assert torch.equal(rgb_to_y(gray), gray * 255)  # a gray image is its own Y
    with pytest.raises(PixelsmithError, match="rgb_to_y needs"):
        rgb_to_y(torch.rand(1, 4, 3, 3))


def test_rgb_to_y_matches_scikit_image():
    color = pytest.importorskip("skimage.color")
    x = torch.rand(1, 3, 9, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = rgb_to_y(x)[0, 0].numpy()
    theirs = color.rgb2ycbcr(x[0].permute(1, 2, 0).numpy())[..., 0]
    assert abs(ours - theirs).max() < 1e-9


def test_shave():
    x = torch.arange(2 * 10 * 12).reshape(1, 2, 10, 12)
    s = shave(x, 3)
    assert s.shape == (1, 2, 4, 6) and torch.equal(s, x[:, :, 3:7, 3:9])
    assert shave(x, 0) is x
    with pytest.raises(PixelsmithError, match="cannot shave 5 px off a 10x12"):
        shave(x, 5)


def test_psnr255_by_hand():
    ref = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    x = ref.clone()
    x[0] += 10  # MSE 100 -> 10 log10(255^2 / 100)
    x[1, 0, 0, 0] = 255  # one pixel off by 255 of 16 -> MSE 255^2 / 16
    assert psnr255(x, ref).tolist() == pytest.approx(
        [10 * math.log10(255**2 / 100), 10 * math.log10(16)], abs=1e-9)


def test_psnr_ssim_match_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    x, ref = _pair()
    ours_p, ours_s = psnr255(x, ref), ssim255(x, ref)
    for i in range(2):
        a, b = ref[i, 0].numpy(), x[i, 0].numpy()
        assert ours_p[i].item() == pytest.approx(
            metrics.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
        # Wang et al.'s settings: Gaussian window sigma 1.5, population covariance
        sk = metrics.structural_similarity(a, b, data_range=255, gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False)
        assert ours_s[i].item() == pytest.approx(sk, abs=1e-6)


def test_ssim_identical_is_one_and_tiny_images_fail():
    _, ref = _pair(shape=(1, 3, 20, 20))
    assert ssim255(ref, ref).item() == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(PixelsmithError, match="SSIM needs images larger than 10x10"):
        ssim255(ref[..., :10, :10], ref[..., :10, :10])


def test_sr_scores_shave_the_border_and_use_y():
    g = torch.Generator().manual_seed(2)
    hr = torch.rand(1, 3, 30, 30, generator=g, dtype=torch.float64)
    sr = hr.clone()
    sr[..., :2, :] = 1 - sr[..., :2, :]  # damage only the 2-px border a x2 score shaves
    p, s = sr_scores(sr, hr, scale=2)
    assert math.isinf(p.item()) or p.item() > 100
    assert s.item() == pytest.approx(1.0)
    sr[..., 10, 10] = 1 - sr[..., 10, 10]  # one damaged inner pixel does count
    assert sr_scores(sr, hr, scale=2)[0].item() < 80
    assert torch.equal(quantise(torch.tensor([0.5, -0.1, 1.2])), torch.tensor([128.0, 0, 255]))


def test_y_is_rounded_once_on_both_sides():
    """MATLAB's rgb2ycbcr on uint8 returns uint8: both the reference's and the output's Y are
    8-bit. A gray model whose luma output is exactly the reference's Y scores infinite PSNR."""
    g = torch.Generator().manual_seed(3)
    hr = torch.rand(1, 3, 24, 24, generator=g, dtype=torch.float64)
    y = y8(hr)
    assert torch.equal(y, y.round()) and 16 <= y.min() and y.max() <= 235
    assert torch.equal(y, rgb_to_y(quantise(hr) / 255).round())
    luma = (y - 16) / 219  # what a perfect gray (full-range luma) model would output
    p, s = sr_scores(luma, hr, scale=2, sr_luma=True)
    assert (math.isinf(p.item()) or p.item() > 100) and s.item() == pytest.approx(1.0)
    p, _ = sr_scores(luma + 0.6 / 219, hr, scale=2, sr_luma=True)  # rounds to Y + 1
    assert p.item() == pytest.approx(20 * math.log10(255), abs=1e-9)


def test_load_test_set_missing_folder_and_bad_name(tmp_path):
    with pytest.raises(PixelsmithError, match=r"test set folder .*Set12 does not exist"):
        load_test_set("Set12", tmp_path)
    with pytest.raises(PixelsmithError, match="unknown test set 'Set99'; choose one of: Set12"):
        load_test_set("Set99", tmp_path)


def test_load_test_set_from_a_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "restoration" / "testsets" / "Set5"
    folder.mkdir(parents=True)
    Image.new("RGB", (7, 5), (10, 20, 30)).save(folder / "b.png")
    Image.new("L", (4, 6), 99).save(folder / "a.png")
    (folder / "notes.txt").write_text("not an image")
    native = load_test_set("Set5", tmp_path)
    assert [t.name for t in native] == ["a", "b"]
    assert native[0].image.shape == (1, 6, 4) and native[1].image.shape == (3, 5, 7)
    assert native[1].image.dtype == torch.uint8
    assert native[1].image[:, 0, 0].tolist() == [10, 20, 30]
    rgb = load_test_set("Set5", tmp_path / "restoration" / "testsets", channels=3)
    assert rgb[0].image.shape == (3, 6, 4) and (rgb[0].image == 99).all()
    (folder / "c.png").write_bytes(b"broken")
    with pytest.raises(PixelsmithError, match="cannot read test image .*c.png"):
        load_test_set("Set5", tmp_path)


def test_real_test_sets(shared_data):
    sizes = {"Set12": 12, "BSD68": 68, "CBSD68": 68, "Kodak24": 24, "Set5": 5, "Set14": 14}
    for name, n in sizes.items():
        images = load_test_set(name, shared_data)
        assert len(images) == n
        chans = {t.image.shape[0] for t in images}
        if name == "Set14":  # bridge is the one gray picture
            assert [t.name for t in images if t.image.shape[0] == 1] == ["bridge"]
        else:
            assert chans == {TEST_SETS[name]}
    set12 = load_test_set("Set12", shared_data)
    assert set12[0].image.shape == (1, 256, 256) and set12[0].image.float().std() > 10
