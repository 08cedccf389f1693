"""Ports for the app: a requested one checked before gradio tries it (gradio's own error is
a multi-line search of ports), or any free one for ``--port 0`` and the tests."""

from __future__ import annotations

import socket

from pixelsmith.errors import PixelsmithError


def free_port(host: str = "127.0.0.1", port: int = 0) -> int:
    """``port`` when it can be bound on ``host``; with 0, a free port the system picks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            if port == 0:
                raise PixelsmithError(f"--host {host}: cannot serve there ({e.strerror})"
                                      ) from None
            raise PixelsmithError(f"--port {port} on {host} is in use or not allowed "
                                  f"({e.strerror}); choose another, or --port 0 for any "
                                  "free one") from None
        return s.getsockname()[1]
