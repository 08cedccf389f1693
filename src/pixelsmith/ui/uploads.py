"""Pictures uploaded to the app: refused above a size in bytes (gradio also stops larger
uploads at the door), then decoded by the one image reader ``pixelsmith restore`` uses
(``restore.files.read_image_file``: its own size and channels, EXIF rotation, 16-bit and
palette files, the pixel limit against decompression bombs). A file that is no picture is a
one-line ``PixelsmithError`` the page shows; nothing here can take the server down.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pixelsmith.errors import PixelsmithError

MAX_UPLOAD_MB = 50  # `pixelsmith ui --max-upload-mb`; pixels are limited by --max-pixels


def _display_name(path: Path) -> str:
    return path.name  # gradio keeps the uploaded file's own name in a private folder


def check_upload(path: str | Path | None, max_bytes: int | None) -> Path:
    """The uploaded file's path, or a one-line error: nothing uploaded, gone, too large."""
    if path is None or str(path) == "":
        raise PixelsmithError("upload a picture first")
    path = Path(path)
    try:
        size = os.stat(path).st_size
    except OSError:
        raise PixelsmithError(f"the upload {_display_name(path)} is gone; upload it again"
                              ) from None
    if max_bytes is not None and size > max_bytes:
        raise PixelsmithError(f"{_display_name(path)} is {size / 1e6:.1f} MB, over the upload "
                              f"limit of {max_bytes / 1e6:g} MB (pixelsmith ui --max-upload-mb)")
    return path


def read_upload(path: str | Path | None, max_bytes: int | None):
    """An uploaded picture as ``ImageFile`` (uint8 (C, H, W), transparency kept aside)."""
    from pixelsmith.restore.files import read_image_file

    return read_image_file(check_upload(path, max_bytes))


def out_dir(work_dir: str | Path, prefix: str) -> Path:
    """A new folder for one request's files under the app's work folder (two requests
    never write into each other's)."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))
