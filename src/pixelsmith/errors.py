"""The one exception type users see: its message is a single line that names the culprit."""


class PixelsmithError(Exception):
    """A user-facing error (bad config key, missing file, incompatible checkpoint).

    The CLI prints ``error: <message>`` and exits with status 2 instead of a stack trace.
    """


class UnreadableImage(PixelsmithError):
    """An image file that cannot be decoded. Commands working through a folder skip it with a
    warning naming it (as the training loaders do) instead of stopping half-way."""
