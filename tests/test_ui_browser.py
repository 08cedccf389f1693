"""The web app in a real browser: ``pixelsmith ui``'s app started on a free localhost port
and driven in headless Chromium through selenium (the system's chromium and chromedriver,
no browser that downloads itself). Loads the page, generates a grid from a tiny run (the
pixels the page shows are those `pixelsmith sample` writes), restores an uploaded picture
with the packaged denoiser, refuses a file that is no picture in the page, paints a hole
with the mouse and inpaints it, and screenshots every tab into the test's folder.

Marked ``browser`` (not in the default suite): ``pytest -m browser tests/test_ui_browser.py``.
Chromium on Debian/Ubuntu: ``apt-get install -y chromium chromium-driver``.
"""

from __future__ import annotations

import io
import os
import shutil
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome")) if p), None)
DRIVER = shutil.which("chromedriver")
WAIT_S = 60  # the first request of a tab loads a model: seconds on a busy CPU


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("gradio", reason="the ui extra is not installed: pip install -e .[ui]")
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed: pip install selenium")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no system Chromium with chromedriver (apt-get install -y chromium "
                    "chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    # the system's browser and driver, named; Selenium Manager must never fetch one
    os.environ.setdefault("SE_OFFLINE", "true")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_gan_run):
    """The app on a free localhost port, on a runs folder holding the tiny GAN run."""
    from pixelsmith.ui.app import launch
    from pixelsmith.ui.serving import free_port

    root = tmp_path_factory.mktemp("ui-browser-runs")
    shutil.copytree(tiny_gan_run, root / "gan")
    port = free_port()
    app = launch(root, port=port, device="cpu", block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/", root
    app.close()


def _wait(driver, what, timeout: float = WAIT_S):
    """Poll ``what(driver)`` until it returns something truthy."""
    end = time.monotonic() + timeout
    while True:
        try:
            got = what(driver)
        except Exception:  # noqa: BLE001 - an element that is not there yet
            got = None
        if got:
            return got
        _no_error_toast(driver)
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what.__name__}")
        time.sleep(0.25)


def _no_error_toast(driver) -> None:
    """Fail at once when gradio shows an error toast (an exception outside our guard)."""
    from selenium.webdriver.common.by import By

    for toast in driver.find_elements(By.CSS_SELECTOR, "[data-testid='toast-body']"):
        if "error" in toast.text.lower():
            raise AssertionError(f"error in the page: {toast.text}")


def _by_id(driver, elem_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, elem_id)


def _open_tab(driver, label: str) -> None:
    from selenium.webdriver.common.by import By

    tabs = driver.find_elements(By.CSS_SELECTOR, "button[role='tab']")
    next(t for t in tabs if t.text.strip() == label).click()
    time.sleep(0.5)


def _image_src(driver, elem_id: str, old: str | None = None) -> str:
    """The src of the image shown in element ``elem_id``, once it differs from ``old``."""
    from selenium.webdriver.common.by import By

    def image_shown(d):
        imgs = _by_id(d, elem_id).find_elements(By.TAG_NAME, "img")
        srcs = [i.get_attribute("src") for i in imgs if i.get_attribute("src")]
        return next((s for s in srcs if s != old), None)

    image_shown.__name__ = f"an image in #{elem_id}"
    return _wait(driver, image_shown)


def _fetch_pixels(src: str) -> np.ndarray:
    with urllib.request.urlopen(src, timeout=30) as r:
        return np.asarray(Image.open(io.BytesIO(r.read())).convert("RGB"))


def _upload(driver, elem_id: str, path) -> None:
    from selenium.webdriver.common.by import By

    field = _by_id(driver, elem_id).find_element(By.CSS_SELECTOR, "input[type='file']")
    field.send_keys(str(path))


def _status(driver, name: str) -> str:
    return _by_id(driver, f"{name}-status").text


def test_every_tab_in_chromium(browser, server, tmp_path, cli):
    url, root = server
    d = browser
    d.get(url)
    # Runs: the run's summary and its sample grid appear on load
    _wait(d, lambda d: "gan" in _by_id(d, "runs-summary").text)
    _image_src(d, "runs-grid")
    d.save_screenshot(str(tmp_path / "runs.png"))

    # Generate: a grid of 16 with seed 5, the pixels `pixelsmith sample` writes
    _open_tab(d, "Generate")
    seed = _by_id(d, "generate-seed").find_element("css selector", "input")
    seed.clear()
    seed.send_keys("5")
    _by_id(d, "generate-button").click()
    src = _image_src(d, "generate-grid")
    cli("sample", root / "gan", "--num", 16, "--seed", 5, "-o", tmp_path / "cli.png",
        "--device", "cpu")
    expected = np.asarray(Image.open(tmp_path / "cli.png").convert("RGB"))
    assert np.array_equal(_fetch_pixels(src), expected)
    d.save_screenshot(str(tmp_path / "generate.png"))

    # Interpolate: random ends, a frame and the GIF
    _open_tab(d, "Interpolate")
    _by_id(d, "interpolate-button").click()
    _image_src(d, "interpolate-frame")
    _image_src(d, "interpolate-gif")
    d.save_screenshot(str(tmp_path / "interpolate.png"))

    # Restore: a file that is no picture is one line in the page; then a real picture
    _open_tab(d, "Restore")
    (tmp_path / "broken.png").write_text("this is not a picture")
    _upload(d, "restore-upload", tmp_path / "broken.png")
    time.sleep(1)
    _by_id(d, "restore-button").click()
    _wait(d, lambda d: "cannot read image" in _status(d, "restore"))
    rng = np.random.default_rng(0)
    clean = np.linspace(40, 210, 96)[None, :] * np.ones((64, 1))
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "noisy.png")
    from selenium.webdriver.common.by import By

    clear = _by_id(d, "restore-upload").find_elements(By.CSS_SELECTOR, "button[aria-label]")
    for b in clear:  # remove the broken file first when the component offers it
        if "clear" in (b.get_attribute("aria-label") or "").lower():
            b.click()
    _upload(d, "restore-upload", tmp_path / "noisy.png")
    time.sleep(1)
    _by_id(d, "restore-button").click()
    _wait(d, lambda d: "denoise with" in _by_id(d, "restore-note").text)
    assert _status(d, "restore") == ""
    link = _wait(d, lambda d: _by_id(d, "restore-file").find_element(By.TAG_NAME, "a"))
    after = _fetch_pixels(link.get_attribute("href"))[..., 0]
    assert after.shape == noisy.shape
    def psnr(a):
        return 10 * np.log10(255**2 / np.mean((a.astype(float) - clean) ** 2))

    assert psnr(after) > psnr(noisy) + 5
    d.save_screenshot(str(tmp_path / "restore.png"))

    # Inpaint: upload, paint a stroke over the picture with the mouse, fill with Telea
    _open_tab(d, "Inpaint")
    pic = np.full((64, 96, 3), (40, 140, 200), np.uint8)
    Image.fromarray(pic).save(tmp_path / "pic.png")
    _upload(d, "inpaint-upload", tmp_path / "pic.png")
    canvas = _wait(d, lambda d: _by_id(d, "inpaint-editor").find_element(By.TAG_NAME,
                                                                         "canvas"))
    from selenium.webdriver.common.action_chains import ActionChains

    for _ in range(20):  # a stroke drawn before the picture reached the editor is lost
        time.sleep(1)
        ActionChains(d).move_to_element(canvas).click_and_hold().move_by_offset(10, 2)\
            .move_by_offset(10, 0).release().perform()
        time.sleep(0.5)
        _by_id(d, "inpaint-button").click()
        _wait(d, lambda d: "filled" in _by_id(d, "inpaint-note").text
              or _status(d, "inpaint"))
        if "paint the hole" not in _status(d, "inpaint"):
            break
    assert _status(d, "inpaint") == "", _status(d, "inpaint")
    holes = int(_by_id(d, "inpaint-note").text.split("filled ")[1].split()[0])
    assert 100 < holes < 64 * 96 * 3 // 4  # the stroke, not the whole picture
    out = _fetch_pixels(_image_src(d, "inpaint-result"))
    assert np.abs(out.astype(int) - pic).max() <= 8  # a flat picture stays flat (OpenCV: +-5)
    d.save_screenshot(str(tmp_path / "inpaint.png"))
    for name in ("runs", "generate", "interpolate", "restore", "inpaint"):
        width, height = Image.open(tmp_path / f"{name}.png").size
        assert width == 1280 and height > 600
