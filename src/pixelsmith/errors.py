"""The one exception type users see: its message is a single line that names the culprit,
and the one place that turns any other exception into such a line (``one_line``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

DEBUG_ENV = "PIXELSMITH_DEBUG"  # set to 1 for full tracebacks instead of one-line errors


class PixelsmithError(Exception):
    """A user-facing error (bad config key, missing file, incompatible checkpoint).

    The CLI prints ``error: <message>`` and exits with status 2 instead of a stack trace.
    """


class UnreadableImage(PixelsmithError):
    """An image file that cannot be decoded. Commands working through a folder skip it with a
    warning naming it (as the training loaders do) instead of stopping half-way."""


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def first_line(e: BaseException, limit: int | None = None, default: str = "") -> str:
    """The first line of an exception's message, at most ``limit`` characters (``default``
    when it has none): what a one-line error quotes of a library's long message."""
    text = str(e).strip().splitlines()
    return text[0][:limit] if text else default


def one_line(e: BaseException) -> str:
    """An unexpected exception as one line: a file-system failure names its path and the
    reason; anything else is a bug, said so, with how to get the traceback for a report."""
    if isinstance(e, OSError) and e.strerror:
        paths = " -> ".join(str(p) for p in (e.filename, e.filename2) if p is not None)
        return f"{paths}: {e.strerror}" if paths else e.strerror
    if isinstance(e, MemoryError):
        return "out of memory (try a smaller batch, --num or image)"
    text = first_line(e, 300)
    detail = f": {text}" if text else ""
    return (f"unexpected {type(e).__name__}{detail} (a bug in pixelsmith: rerun with "
            f"--debug or {DEBUG_ENV}=1 for the traceback and report it)")


def run_script(main: Callable[[], object]) -> None:
    """Run a script's ``main()`` (the bench scripts) as the CLI runs a command: a
    ``PixelsmithError`` becomes ``error: <message>`` on stderr and exit status 2."""
    try:
        main()
    except PixelsmithError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
