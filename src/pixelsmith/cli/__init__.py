"""The ``pixelsmith`` command: thin commands that parse, then call the library.

``main`` is the one place where failures become what a user reads: a ``PixelsmithError``
is ``error: <message>`` (status 2), a usage mistake is click's usage message (status 2),
any other exception ``error: <one line>`` (status 1; file-system failures name the path),
Ctrl-C ``aborted`` (status 130). ``--debug`` or ``PIXELSMITH_DEBUG=1`` shows the traceback
of unexpected exceptions instead. Warnings are printed as one ``warning: ...`` line.
"""

from __future__ import annotations

import os
import sys
import warnings

import typer

from pixelsmith.cli import (
    data_cmd,
    evaluate_cmd,
    evaluator_cmd,
    export_cmd,
    interpolate_cmd,
    list_cmd,
    models_cmd,
    onnx_cmd,
    reconstruct_cmd,
    restore_cmd,
    sample_cmd,
    train_cmd,
    ui_cmd,
)
from pixelsmith.errors import DEBUG_ENV, PixelsmithError, debug_enabled, one_line

app = typer.Typer(
    name="pixelsmith", no_args_is_help=True, add_completion=False,
    help="Make images and mend them: train generators and restorers, sample, evaluate.",
)


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", help=f"full traceback on unexpected errors "
                               f"(same as {DEBUG_ENV}=1)"),
    max_pixels: int = typer.Option(None, "--max-pixels", help="largest image read, in pixels "
                                   "(default 200000000; same as PIXELSMITH_MAX_PIXELS)"),
) -> None:
    """Make images and mend them: train generators and restorers, sample, evaluate."""
    if debug:
        os.environ[DEBUG_ENV] = "1"
    if max_pixels is not None:  # read by data/image_files.py, the one image reader
        os.environ["PIXELSMITH_MAX_PIXELS"] = str(max_pixels)


app.command("train")(train_cmd.train)
app.command("sample")(sample_cmd.sample)
app.command("interpolate")(interpolate_cmd.interpolate)
app.command("export")(export_cmd.export)
app.command("list")(list_cmd.list_components)
app.command("reconstruct")(reconstruct_cmd.reconstruct)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("restore")(restore_cmd.restore)
app.command("models")(models_cmd.models)
app.command("onnx")(onnx_cmd.onnx)
app.command("ui")(ui_cmd.ui)
app.add_typer(evaluator_cmd.app, name="evaluator")
app.add_typer(data_cmd.app, name="data")


def _click_exception() -> type[Exception]:
    # typer >= 0.2x vendors click as typer._click; older ones use the installed click
    try:
        from typer._click.exceptions import ClickException
    except ImportError:
        from click.exceptions import ClickException
    return ClickException


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one ``warning: ...`` line, without Python's file:line decoration."""
    if debug_enabled():
        text = warnings.formatwarning(message, category, filename, lineno, line)
    else:
        first = str(message).strip().splitlines()
        text = f"warning: {first[0] if first else category.__name__}\n"
    (file or sys.stderr).write(text)


def main() -> None:
    warnings.showwarning = _warning_line
    try:
        # standalone_mode=False returns a command's `typer.Exit(code)` (and Ctrl-C as 130)
        code = app(standalone_mode=False)
    except PixelsmithError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except typer.Exit as e:  # older typers re-raise it; it is click's Exit there
        code = e.exit_code
    except Exception as e:
        if isinstance(e, _click_exception()):  # usage errors: click's message and code
            e.show()
            sys.exit(e.exit_code)
        if debug_enabled():
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        sys.exit(1)
    if code == 130:
        print("aborted", file=sys.stderr)
    if isinstance(code, int) and code:
        sys.exit(code)
