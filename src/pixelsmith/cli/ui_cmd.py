from __future__ import annotations

from pathlib import Path

import typer

from pixelsmith.cli import options as opt

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def ui(
    runs: Path = typer.Option(Path("runs"), "--runs", help="folder holding your run folders"),
    port: int = typer.Option(7860, "--port", help="port to serve on (0: any free one)"),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="address to bind; the default is reachable from this "
                                  "machine only (the app has no login)"),
    max_upload_mb: float = typer.Option(50, "--max-upload-mb",
                                        help="largest picture accepted for upload, MB"),
    device: opt.Device = "auto",
) -> None:
    """Start the web app (needs pip install 'pixelsmith[ui]'): look at runs, generate,
    interpolate, restore an uploaded photo, inpaint by painting the hole."""
    from pixelsmith.errors import PixelsmithError
    from pixelsmith.ui import require_gradio

    require_gradio()  # before anything else: a missing extra is the one line the user sees
    if not 0 <= port <= 65535:
        raise PixelsmithError(f"--port must be in 0..65535, got {port}")
    if not max_upload_mb > 0:
        raise PixelsmithError(f"--max-upload-mb must be > 0, got {max_upload_mb:g}")
    if not runs.is_dir():
        raise PixelsmithError(f"--runs {runs} is not a folder; give the folder that holds "
                              "your run folders (pixelsmith train CONFIG --run-dir runs/NAME)")
    from pixelsmith.ui.app import launch
    from pixelsmith.ui.serving import free_port

    port = free_port(host, port)
    if host not in LOOPBACK:
        typer.echo(f"warning: serving on {host}: anyone who can reach this machine can use "
                   "the app and read the runs under --runs", err=True)
    url = f"http://{'localhost' if host in LOOPBACK else host}:{port}"
    typer.echo(f"starting the app on {url} ...")
    launch(runs, host=host, port=port, max_upload_mb=max_upload_mb, device=device, quiet=True,
           on_ready=lambda: typer.echo(f"pixelsmith ui: open {url} (runs in {runs}; Ctrl-C "
                                       "stops it)"))
