from __future__ import annotations

from pathlib import Path

import typer


def onnx(
    model: str = typer.Argument(..., metavar="MODEL_OR_RUN",
                                help="run folder, checkpoint folder or packaged model name"),
    out: Path = typer.Option(..., "--out", "-o", help="the ONNX file to write"),
    opset: int = typer.Option(None, "--opset", help="ONNX opset (default: the exporter's)"),
) -> None:
    """Export a restorer or inpainter to ONNX (dynamic batch, height and width)."""
    from pixelsmith.restore.onnx_export import export_onnx

    meta = export_onnx(model, out, opset=opset)
    scale = f" x{meta['scale']}" if meta["scale"] != "1" else ""
    typer.echo(f"wrote {out}: {meta['model']} ({meta['task']}{scale}, "
               f"{meta['img_channels']} channel(s)); inputs {meta['inputs']}; "
               f"output {meta['outputs']}")
