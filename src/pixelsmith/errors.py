"""The one exception type users see: its message is a single line that names the culprit."""

import sys
from collections.abc import Callable


class PixelsmithError(Exception):
    """A user-facing error (bad config key, missing file, incompatible checkpoint).

    The CLI prints ``error: <message>`` and exits with status 2 instead of a stack trace.
    """


class UnreadableImage(PixelsmithError):
    """An image file that cannot be decoded. Commands working through a folder skip it with a
    warning naming it (as the training loaders do) instead of stopping half-way."""


def run_script(main: Callable[[], object]) -> None:
    """Run a script's ``main()`` (the bench scripts) as the CLI runs a command: a
    ``PixelsmithError`` becomes ``error: <message>`` on stderr and exit status 2."""
    try:
        main()
    except PixelsmithError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
