"""The ``pixelsmith`` command: thin commands that parse, then call the library."""

from __future__ import annotations

import sys

import typer

from pixelsmith.cli import (
    data_cmd,
    evaluate_cmd,
    evaluator_cmd,
    export_cmd,
    interpolate_cmd,
    list_cmd,
    reconstruct_cmd,
    restore_cmd,
    sample_cmd,
    train_cmd,
)
from pixelsmith.errors import PixelsmithError

app = typer.Typer(
    name="pixelsmith", no_args_is_help=True, add_completion=False,
    help="Make images and mend them: train generators and restorers, sample, evaluate.",
)
app.command("train")(train_cmd.train)
app.command("sample")(sample_cmd.sample)
app.command("interpolate")(interpolate_cmd.interpolate)
app.command("export")(export_cmd.export)
app.command("list")(list_cmd.list_components)
app.command("reconstruct")(reconstruct_cmd.reconstruct)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("restore")(restore_cmd.restore)
app.add_typer(evaluator_cmd.app, name="evaluator")
app.add_typer(data_cmd.app, name="data")


def main() -> None:
    try:
        # standalone_mode=False returns a command's `typer.Exit(code)` instead of exiting
        code = app(standalone_mode=False)
    except PixelsmithError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # click's usage errors carry their own exit code and message
        try:  # newer typer releases vendor click; an installed click is then a different one
            from typer import _click as click
        except ImportError:
            import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
