"""``pixelsmith restore`` through the real command line, on real image files."""


import numpy as np
import pytest
from PIL import Image

from pixelsmith.config import load_config
from pixelsmith.training import Trainer

TINY = ["data.name=digits", "data.img_size=16", "data.max_images=32", "data.patch_size=8",
        "model.name=dncnn", "model.depth=3", "model.width=4", "train.steps=2",
        "train.batch_size=4", "train.num_samples=2", "train.progress=false"]



@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("restore-runs")
    Trainer(load_config(None, [*TINY, "data.img_channels=3"]), root / "color").fit()
    Trainer(load_config(None, [*TINY, "data.img_channels=1"]), root / "gray").fit()
    sr = ["model.name=srnet", "model.scale=2", "model.width=4", "model.blocks=1",
          "objective.degradation={name: bicubic-down, scale: 2}", "data.img_channels=1"]
    base = [o for o in TINY if not o.startswith("model.")]
    Trainer(load_config(None, [*base, *sr]), root / "sr").fit()
    return root


def test_restore_gray_rgba_jpeg_and_16bit_files(runs, tmp_path, cli):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    gray = rng.integers(0, 256, (37, 45), dtype=np.uint8)
    Image.fromarray(gray).save(src / "gray.png")
    rgba = rng.integers(0, 256, (30, 41, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(src / "icon.png")
    Image.fromarray(rng.integers(0, 256, (33, 50, 3), dtype=np.uint8)).save(src / "photo.jpg")
    deep = (rng.integers(0, 65536, (20, 24))).astype(np.uint16)
    Image.fromarray(deep).save(src / "deep.png")  # 16-bit gray
    Image.fromarray(np.full((32, 40), 128, np.uint8)).save(src / "flat.png")
    out = tmp_path / "out"
    # one process for all files (each start imports torch): restored, compared, scored
    res = cli("restore", "--checkpoint", runs / "color", "--input", src, "--out", out, "--compare",
              "--degrade", "--tile", "24", "--overlap", "8", env={"OMP_NUM_THREADS": "1"})
    g = Image.open(out / "gray.png")
    assert g.mode == "L" and g.size == (45, 37)  # gray in, gray out (through a colour model)
    icon = Image.open(out / "icon.png")
    assert icon.mode == "RGBA" and icon.size == (41, 30)
    assert np.array_equal(np.array(icon)[..., 3], rgba[..., 3])  # transparency kept
    photo = Image.open(out / "photo.png")
    assert photo.mode == "RGB" and photo.size == (50, 33)
    assert Image.open(out / "deep.png").size == (24, 20)
    # --degrade: clean | degraded | restored, and a PSNR table
    assert Image.open(out / "photo_compare.png").size == (3 * 50 + 8, 33)
    assert "degraded PSNR" in res.stdout and "photo.jpg" in res.stdout and "mean" in res.stdout
    noisy = np.array(Image.open(out / "flat_degraded.png")).astype(float)
    # sigma 25 in each of the colour model's channels, shown as gray (601 luma averages the
    # three independent noises: 25 * |(0.299, 0.587, 0.114)| = 16.7)
    assert 14 < noisy.std() < 19


def test_compare_without_degrade_is_before_after(runs, tmp_path):
    from pixelsmith.restore import load_restorer
    from pixelsmith.restore.files import restore_file

    Image.fromarray(np.full((21, 30), 90, np.uint8)).save(tmp_path / "a.png")
    res = restore_file(load_restorer(runs / "gray"), tmp_path / "a.png", tmp_path / "o",
                       compare=True)
    assert [p.name for p in res.written] == ["a.png", "a_compare.png"]
    assert Image.open(res.written[1]).size == (2 * 30 + 4, 21)


def test_colour_photo_into_gray_model_is_a_clear_error(runs, tmp_path, cli):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "p.jpg")
    res = cli("restore", "-c", runs / "gray", "-i", tmp_path / "p.jpg", "-o", tmp_path / "o",
              ok=False)
    assert res.returncode == 2
    line = res.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert "is a colour image" in line and "restores gray images" in line
    assert "convert the picture to gray" in line


def test_task_mismatch_is_a_clear_error(runs, tmp_path):
    from typer.testing import CliRunner

    from pixelsmith.cli import app
    from pixelsmith.errors import PixelsmithError

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "p.png")
    res = CliRunner().invoke(app, ["restore", "-c", str(runs / "gray"), "-i",
                                   str(tmp_path / "p.png"), "-o", str(tmp_path / "o"),
                                   "--task", "sr"])
    assert isinstance(res.exception, PixelsmithError)
    assert "--task sr does not fit" in str(res.exception) and "a denoise model" in str(
        res.exception)


def test_colour_picture_through_gray_sr_model_enlarges_y_and_keeps_colour(runs, tmp_path):
    import torch

    from pixelsmith.restore import load_restorer
    from pixelsmith.restore.files import restore_file, rgb_to_ycbcr, upscale_for_display

    rng = np.random.default_rng(2)
    smooth = rng.integers(40, 215, (5, 6, 3)).astype(np.uint8)
    pic = Image.fromarray(smooth).resize((25, 20), Image.Resampling.BICUBIC)
    pic.save(tmp_path / "c.png")
    res = restore_file(load_restorer(runs / "sr"), tmp_path / "c.png", tmp_path / "o")
    out = Image.open(res.written[0])
    assert out.mode == "RGB" and out.size == (50, 40)
    x = torch.from_numpy(np.array(pic)).permute(2, 0, 1).float() / 255
    want = upscale_for_display(rgb_to_ycbcr(x)[1:], (40, 50))
    got = rgb_to_ycbcr(torch.from_numpy(np.array(out)).permute(2, 0, 1).float() / 255)[1:]
    assert (got - want).abs().mean() < 0.01  # chroma: bicubic, the net only sees Y


def _invoke(*args):
    """The CLI in-process (no interpreter start): (exit code, stdout + stderr, exception)."""
    from typer.testing import CliRunner

    from pixelsmith.cli import app

    res = CliRunner().invoke(app, ["restore", *map(str, args)])
    return res.exit_code, res.output, res.exception


def test_folder_skips_unreadable_files_names_them_and_exits_1(runs, tmp_path, cli):
    from pixelsmith.errors import UnreadableImage

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((12, 14), 70, np.uint8)).save(src / "a.png")
    (src / "b.png").write_bytes(b"not a png at all")
    Image.fromarray(np.full((12, 14), 200, np.uint8)).save(src / "c.png")
    code, text, _ = _invoke("-c", runs / "gray", "-i", src, "-o", tmp_path / "out")
    assert code == 1  # the work is done, but a script must notice the skipped file
    assert (tmp_path / "out" / "a.png").is_file() and (tmp_path / "out" / "c.png").is_file()
    assert not (tmp_path / "out" / "b.png").exists()
    assert f"warning: skipped cannot read image {src / 'b.png'}" in text
    assert f"skipped 1 unreadable file(s): {src / 'b.png'}" in text
    assert "for 2 input(s)" in text
    # the installed command (not only the in-process runner) must exit 1 as well
    proc = cli("restore", "-c", runs / "gray", "-i", src, "-o", tmp_path / "out3", ok=False)
    assert proc.returncode == 1 and "skipped 1 unreadable file(s)" in proc.stderr + proc.stdout
    # one file given by name: no skipping, the usual one-line error
    code, _, exc = _invoke("-c", runs / "gray", "-i", src / "b.png", "-o", tmp_path / "o2")
    assert isinstance(exc, UnreadableImage) and "b.png" in str(exc)


def test_sigma_is_shown_only_when_used(runs, tmp_path):
    Image.fromarray(np.full((16, 16), 120, np.uint8)).save(tmp_path / "p.png")
    # SR model: --sigma neither sets the degradation nor feeds the net
    code, text, exc = _invoke("-c", runs / "sr", "-i", tmp_path / "p.png", "-o", tmp_path / "a",
                              "--degrade", "--sigma", "10")
    assert code == 0, exc
    flat = " ".join(text.split())  # rich may wrap the title
    assert "bicubic-down" in flat and "sigma 10" not in flat
    # Gaussian-noise model: --sigma is the noise added
    code, text, exc = _invoke("-c", runs / "gray", "-i", tmp_path / "p.png", "-o",
                              tmp_path / "b", "--degrade", "--sigma", "10")
    assert code == 0, exc
    assert "sigma 10" in " ".join(text.split())


def test_negative_overlap_and_tile_have_their_own_message(runs, tmp_path):
    import torch

    from pixelsmith.errors import PixelsmithError
    from pixelsmith.restore import tiled_apply

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "p.png")
    _, _, exc = _invoke("-c", runs / "gray", "-i", tmp_path / "p.png", "-o", tmp_path / "o",
                        "--overlap", "-2", "--tile", "16")
    assert isinstance(exc, PixelsmithError) and str(exc) == "--overlap must be >= 0 pixels, got -2"
    _, _, exc = _invoke("-c", runs / "gray", "-i", tmp_path / "p.png", "-o", tmp_path / "o",
                        "--tile", "-1")
    assert "--tile must be >= 0" in str(exc)
    with pytest.raises(PixelsmithError, match="--overlap must be >= 0 pixels, got -1"):
        tiled_apply(lambda t: t, torch.zeros(1, 1, 40, 40), tile=16, overlap=-1)
    with pytest.raises(PixelsmithError, match=r"--tile \(16\) must be at least twice"):
        tiled_apply(lambda t: t, torch.zeros(1, 1, 40, 40), tile=16, overlap=10)


def test_written_png_is_restore_image_rounded_with_the_cli_defaults(runs, tmp_path):
    """What `restore` writes is Restorer.restore_image's output rounded to 8 bits, with the
    documented defaults --tile 256 --overlap 32, which are restore.tiling's (the 300 px wide
    picture is tiled), and --precision auto: bf16 exactly where the CPU runs it natively."""
    import torch
    import typer

    from pixelsmith.cli import app
    from pixelsmith.devices import bf16_is_fast
    from pixelsmith.restore import load_restorer
    from pixelsmith.restore.tiling import DEFAULT_OVERLAP, DEFAULT_TILE

    cmd = typer.main.get_command(app).commands["restore"]
    defaults = {p.name: p.default for p in cmd.params}
    assert (defaults["tile"], defaults["overlap"]) == (DEFAULT_TILE, DEFAULT_OVERLAP) == (256, 32)
    assert defaults["precision"] == "auto"
    rng = np.random.default_rng(4)
    pic = rng.integers(0, 256, (20, 300, 3), dtype=np.uint8)
    Image.fromarray(pic).save(tmp_path / "w.png")
    y01 = torch.from_numpy(pic).permute(2, 0, 1).float() / 255
    r = load_restorer(runs / "color", device="cpu")
    auto = r.with_precision("auto").precision
    assert auto == ("bf16" if bf16_is_fast(torch.device("cpu")) else "fp32")
    for precision in ("auto", "fp32", "bf16"):
        out = tmp_path / precision
        code, text, exc = _invoke("-c", runs / "color", "-i", tmp_path / "w.png", "-o", out,
                                  "--precision", precision, "--device", "cpu")
        assert code == 0, exc
        assert f", {auto if precision == 'auto' else precision})" in text
        got = np.array(Image.open(out / "w.png"))
        ran = r.with_precision(precision)
        want = (ran.restore_image(y01, tile=256, overlap=32) * 255).round().clamp(0, 255)
        assert np.array_equal(got, want.to(torch.uint8).permute(1, 2, 0).numpy())
    fp32 = np.array(Image.open(tmp_path / "fp32" / "w.png")).astype(int)
    bf16 = np.array(Image.open(tmp_path / "bf16" / "w.png")).astype(int)
    assert np.abs(fp32 - bf16).mean() < 2  # bf16 moves a few pixels by a level or two
    code, text, exc = _invoke("-c", runs / "color", "-i", tmp_path / "w.png", "-o", out,
                              "--precision", "fp16")
    assert code != 0 and "--precision must be fp32, bf16 or auto, got 'fp16'" in str(exc)
