from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="The standard data sets under the data root (docs/data.md).")

SHOW_FILES = 10  # names listed per set and kind before "and N more"
_STYLE = {"present": "green", "absent": "dim", "incomplete": "yellow", "altered": "red"}


def _wrong(s) -> str:
    parts = [f"{len(s.missing)} missing" if s.missing else "",
             f"{len(s.altered)} altered" if s.altered else "",
             f"{s.extra} extra (fine)" if s.extra else ""]
    if s.status == "absent":
        parts = ["requested but not there" if s.requested else "not there (fine)"]
    return ", ".join(p for p in parts if p) or "-"


@app.command("check")
def check(
    root: Path = typer.Argument(None, help="data root (default: $PIXELSMITH_DATA, else "
                                           "~/.cache/pixelsmith/data)"),
    sets: str = typer.Option(None, "--sets", help="comma-separated set names to check (and "
                                                  "require); default: every known set found"),
    manifest: Path = typer.Option(None, "--manifest", help="manifest to compare with "
                                                           "(default: the one shipped)"),
) -> None:
    """Check the data sets under ROOT against the known copies: every file's SHA-256.

    Exit status 0 when every present set is complete and identical, 1 when one is
    incomplete or altered (or a set named in --sets is absent).
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from pixelsmith.data.check import check_data_root
    from pixelsmith.data.roots import data_root, data_root_origin

    console = Console(highlight=False)
    where = "the ROOT argument" if root is not None else data_root_origin(None)
    console.print(f"data root: {escape(str(data_root(root)))} (from {where})")
    names = [s.strip() for s in sets.split(",") if s.strip()] if sets is not None else None
    report = check_data_root(root, names, manifest)
    table = Table(title_justify="left")
    for col, justify, wrap in (("set", "left", False), ("status", "left", False),
                               ("files ok", "right", False), ("check", "left", True),
                               ("what is wrong", "left", True)):
        table.add_column(col, justify=justify, no_wrap=not wrap)
    for s in report.sets:
        # a second layout of a set (cifar-10-batches-py) is named; the usual one is in the docs
        label = s.name if s.folder == s.default_folder else f"{s.name} ({s.folder})"
        table.add_row(escape(label), f"[{_STYLE[s.status]}]{s.status}[/]",
                      f"{s.ok}/{s.expected}" if s.status != "absent" else "-", s.check,
                      escape(_wrong(s)))
    console.print(table)
    for s in report.sets:
        if not (s.missing and s.status != "absent") and not s.altered and not s.notes:
            continue
        typer.echo(f"{s.name} ({s.folder}): {_wrong(s)}")
        whole = s.missing_dirs if s.status != "absent" else {}
        for d, n in whole.items():
            typer.echo(f"  missing  {d}/ (all {n} files)")
        missing = [r for r in s.missing if r.rsplit("/", 1)[0] not in whole]
        for kind, files in (("missing", missing if s.status != "absent" else []),
                            ("altered", s.altered)):
            for rel in files[:SHOW_FILES]:
                typer.echo(f"  {kind}  {rel}")
            if len(files) > SHOW_FILES:
                typer.echo(f"  ... and {len(files) - SHOW_FILES} more {kind}")
        for note in s.notes:
            typer.echo(f"  note: {note}")
    bad = [s.name for s in report.sets if s.failed]
    found = [s for s in report.sets if s.status != "absent"]
    if bad:
        typer.echo(f"{len(bad)} set(s) not as published: {', '.join(dict.fromkeys(bad))}")
        raise typer.Exit(1)
    if not found:
        typer.echo(f"no known data set under {report.root}; docs/data.md says where each "
                   "is published and how to lay it out")
    else:
        typer.echo(f"{len(found)} set(s) complete and identical to the known copies")


@app.command("pack")
def pack(
    source: str = typer.Argument(..., metavar="FOLDER_OR_NAME",
                                 help="a folder of pictures (subfolders = classes) or a data "
                                      "set name (cifar10, mnist, ...)"),
    out: Path = typer.Option(..., "--out", help="folder to write the shards and manifest to"),
    size: int = typer.Option(64, "--size", help="side of the square training pictures"),
    channels: int = typer.Option(3, "--channels", help="1 = gray, 3 = RGB"),
    crop: str = typer.Option("center", "--crop", help="center: centre square, then resize; "
                                                      "none: resize the whole picture"),
    shard_size: int = typer.Option(2000, "--shard-size", help="pictures per shard"),
    labels: bool = typer.Option(None, "--labels/--no-labels", help="class labels from the "
                                "subfolders (default: when every picture is in one)"),
    data_root: Path = typer.Option(None, "--data-root", help="data root for a data set name"),
    workers: int = typer.Option(None, "--workers", help="decoding threads (default: CPUs, "
                                                        "at most 8)"),
) -> None:
    """Pack pictures into WebDataset tar shards + manifest.json for streaming training
    (data.name=packed, data.root=OUT). Rerun the same command to finish an interrupted pack."""
    from pixelsmith.data.packed import pack as pack_data

    r = pack_data(source, out, size=size, channels=channels, crop=crop, shard_size=shard_size,
                  labels=labels, data_root=None if data_root is None else str(data_root),
                  workers=workers)
    for f, why in r.skipped[:SHOW_FILES]:
        typer.echo(f"  skipped  {f} ({why})")
    if len(r.skipped) > SHOW_FILES:
        typer.echo(f"  ... and {len(r.skipped) - SHOW_FILES} more (all listed in "
                   f"{r.out / 'manifest.json'})")
    kept = f", {r.reused} kept from an earlier run" if r.reused else ""
    classes = f", {len(r.classes)} classes" if r.classes else ", unlabelled"
    typer.echo(f"packed {r.count} images{classes} into {r.shards} shards in {r.out}{kept}; "
               f"{len(r.skipped)} unreadable skipped")
