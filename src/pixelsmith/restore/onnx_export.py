"""Export a trained restorer or inpainter to ONNX: the library behind ``pixelsmith onnx``.

    meta = export_onnx("runs/dncnn", "dncnn.onnx")   # a run, a checkpoint or a packaged name
    x01 = run_onnx("dncnn.onnx", y01, sigma=25)      # onnxruntime; (N, C, H, W) in [0, 1]

The graph takes what a user of onnxruntime has at hand, all float32:

- ``image`` (N, C, H, W) in [0, 1];
- ``sigma`` (N,) or (1,), the noise level on the 0-255 scale: only for networks that read
  it (``noise_level_input``);
- ``mask`` (N, 1, H, W), 1 = known pixel, 0 = hole: inpainters only;

and gives ``restored`` (N, C, H*scale, W*scale) in [0, 1]. The pre- and post-processing of
``Restorer.__call__`` / ``inpaint`` (to [-1, 1], the net, back to [0, 1], clamp; the known
pixels pasted back) is inside the graph, so its output equals PyTorch's. N, H and W are
dynamic; networks that pad to a multiple of their stride do it inside the graph
(reflection), so any H, W of at least ``min_side`` pixels works. What the graph is for
(task, scale, channels, inputs, ...) is written in the model's ``metadata_props``.

Needs the ``onnx`` extra (onnx and onnxscript to export, onnxruntime to run).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pixelsmith.errors import PixelsmithError, first_line
from pixelsmith.generate.loading import LoadedModel
from pixelsmith.restore.inpainting import load_inpainter
from pixelsmith.restore.restorer import Restorer, load_restorer
from pixelsmith.training.checkpoint import load_checkpoint

INSTALL = "pip install 'pixelsmith[onnx]'"


def _require(*modules: str, what: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise PixelsmithError(f"{what} needs the package(s) {', '.join(missing)}: {INSTALL}")


class RestorerGraph(nn.Module):
    """``Restorer.__call__`` as one module: image in [0, 1] (and sigma, 0-255) -> [0, 1]."""

    def __init__(self, net: nn.Module, reads_sigma: bool):
        super().__init__()
        self.net, self.reads_sigma = net, reads_sigma

    def forward(self, image: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        y = image * 2 - 1  # (N, C, H, W) in [-1, 1]
        if self.reads_sigma:
            sigma = sigma.reshape(-1) + image.new_zeros(image.shape[0])  # (1,) or (N,) -> (N,)
        x = self.net(y, sigma if self.reads_sigma else None)  # (N, C, H*s, W*s)
        return ((x + 1) / 2).clamp(0, 1)


class InpainterGraph(nn.Module):
    """``inpaint`` as one module: image in [0, 1], mask 1 = known -> filled, in [0, 1]."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask != 0  # (N, 1, H, W)
        out = self.net(image * 2 - 1, keep.to(image.dtype))  # (N, C, H, W) in [-1, 1]
        return torch.where(keep, image, ((out + 1) / 2).clamp(0, 1))  # known pixels exact


def load_exportable(model_or_run: str | Path, *, device: str = "cpu") -> Restorer | LoadedModel:
    """A restorer (``Restorer``) or inpainter (``LoadedModel``): from a run or checkpoint
    folder when ``model_or_run`` is an existing path, else the packaged model of that name."""
    path = Path(model_or_run)
    if path.exists():
        ckpt = load_checkpoint(path)  # read once, handed to the loader
        kind = ckpt.objective_name
        if kind == "restoration":
            return load_restorer(ckpt, device=device)
        if kind == "inpainting":
            return load_inpainter(ckpt, device=device)
        raise PixelsmithError(f"{path} holds a {kind} model: only restorers and inpainters "
                              "export to ONNX")
    try:
        from pixelsmith.zoo import load_pretrained
    except ImportError:
        raise PixelsmithError(f"{model_or_run}: no such run folder or checkpoint, and this "
                              "installation has no packaged models") from None
    try:
        return load_pretrained(str(model_or_run), device=device)
    except (KeyError, PixelsmithError) as e:
        reason = str(e).strip("'\"") if isinstance(e, PixelsmithError) else ""
        raise PixelsmithError(f"{model_or_run}: no such run folder or checkpoint, and "
                              f"{reason or 'no packaged model of that name'}") from None


def _graph_of(model: Restorer | LoadedModel) -> tuple[nn.Module, list[str], dict[str, str]]:
    """(module to export, its input names, metadata) for a restorer or an inpainter."""
    if isinstance(model, Restorer):
        net, reads = model.net, model.reads_sigma
        deg_name, deg_params = model.degradation
        meta = {"task": model.task, "scale": model.scale, "img_channels": model.img_channels,
                "reads_sigma": reads, "trained_on": f"{deg_name} {deg_params}"}
        default = model.default_sigma()
        if reads and default is not None:
            meta["default_sigma"] = default
        names = ["image", "sigma"] if reads else ["image"]
        module: nn.Module = RestorerGraph(net, reads)
        source = model.path
    elif isinstance(model, LoadedModel) and model.cfg.objective.name == "inpainting":
        net = model.net
        meta = {"task": "inpaint", "scale": 1, "img_channels": net.img_channels,
                "reads_sigma": False}
        names, module, source = ["image", "mask"], InpainterGraph(net), model.path
    else:
        raise PixelsmithError("only restorers (load_restorer) and inpainters (load_inpainter) "
                              f"export to ONNX, got {type(model).__name__}")
    meta.update(model=model.cfg.model.name, min_side=int(getattr(net, "stride", 1)),
                source=_source_name(Path(source)), inputs=_describe(names),
                outputs="restored: float32 (N, C, H*scale, W*scale) in [0, 1]")
    return module.eval(), names, {k: str(v) for k, v in meta.items()}


def _source_name(path: Path) -> str:
    """Where the weights came from, without this machine's folders: ``run/step_N`` for a
    run's checkpoint, ``pixelsmith:<name>`` for a packaged model (its card's folder)."""
    if path.parent.name == "checkpoints":  # run/checkpoints/step_N
        return Path(path.parent.parent.name, path.name).as_posix()
    if (path / "manifest.json").is_file():  # a packaged model's folder is named after it
        return f"pixelsmith:{path.name}"
    return path.as_posix()


def _describe(names: list[str]) -> str:
    what = {"image": "image: float32 (N, C, H, W) in [0, 1]",
            "sigma": "sigma: float32 (N,) or (1,) noise level on the 0-255 scale",
            "mask": "mask: float32 (N, 1, H, W), 1 = known pixel, 0 = hole"}
    return "; ".join(what[n] for n in names)


def export_onnx(model: Restorer | LoadedModel | str | Path, out: str | Path, *,
                opset: int | None = None) -> dict[str, str]:
    """Write ``model`` (a loaded restorer / inpainter, a run, a checkpoint or a packaged
    name) as one ONNX file at ``out``; returns the metadata written into it."""
    _require("onnx", "onnxscript", what="ONNX export")
    import onnx
    from torch.export import Dim

    out = Path(out)
    if out.is_dir():
        raise PixelsmithError(f"--out {out} is a folder; give a file name such as "
                              f"{out / 'model.onnx'}")
    if not isinstance(model, (Restorer, LoadedModel)):
        model = load_exportable(model)
    module, names, meta = _graph_of(model)
    param = next(module.parameters())
    m = int(meta["min_side"])
    # an example with padding to do (odd sides), two images, so no size is taken as fixed
    h, w = 4 * m + 33, 4 * m + 39
    example: dict[str, torch.Tensor] = {
        "image": torch.rand(2, int(meta["img_channels"]), h, w, generator=torch.Generator()
                            .manual_seed(0)).to(param.device),
        "sigma": torch.tensor([25.0, 15.0], device=param.device),
        "mask": (torch.arange(h * w, device=param.device).reshape(1, 1, h, w) % 3 != 0)
        .float().expand(2, 1, h, w).contiguous(),
    }
    image_dims = {0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC}
    dynamic = {"image": image_dims, "sigma": {0: Dim.DYNAMIC}, "mask": image_dims}
    try:
        # the exporter reports its progress and warns about its internals: not the user's
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, tuple(example[n] for n in names), None, input_names=names,
                output_names=["restored"], dynamic_shapes={n: dynamic[n] for n in names},
                opset_version=opset, dynamo=True, verbose=False)
    except Exception as e:  # noqa: BLE001 - an exporter failure, said in one line
        first = first_line(e)
        raise PixelsmithError(f"ONNX export of {meta['source']} ({meta['model']}) failed: "
                              f"{type(e).__name__}: {first}") from None
    proto = program.model_proto
    onnx.helper.set_model_props(proto, meta)
    proto.doc_string = f"pixelsmith {meta['model']} ({meta['task']}): {meta['inputs']}"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        onnx.save(proto, str(tmp))  # one file: the weights inside, not beside it
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)  # a failed save leaves no half-written file
    return meta


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an exported file (task, scale, img_channels, inputs, ...)."""
    _require("onnx", what="reading an ONNX file")
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - a damaged or missing file, in one line
        raise PixelsmithError(f"{path}: not a readable ONNX file ({type(e).__name__})") from None
    return {p.key: p.value for p in proto.metadata_props}


def onnx_session(path: str | Path, *, threads: int | None = None):
    """An onnxruntime CPU session for ``path``; ``threads`` defaults to torch's thread count,
    so timings beside PyTorch compare like with like."""
    _require("onnxruntime", what="running an ONNX model")
    import onnxruntime as ort

    if not Path(path).is_file():
        raise PixelsmithError(f"{path}: no such ONNX file")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _feeds(session, image, sigma, mask) -> dict[str, np.ndarray]:
    def f32(a) -> np.ndarray:
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        return np.ascontiguousarray(a, dtype=np.float32)

    names = [i.name for i in session.get_inputs()]
    given = {"image": image, "sigma": None if sigma is None else f32(sigma).reshape(-1),
             "mask": mask}
    missing = [n for n in names if given.get(n) is None]
    if missing:
        raise PixelsmithError(f"the ONNX model needs {' and '.join(missing)} as well "
                              f"(inputs: {', '.join(names)})")
    return {n: f32(given[n]) for n in names}


def run_onnx(session_or_path, image, sigma=None, mask=None) -> torch.Tensor:
    """Run an exported model with onnxruntime: image (N, C, H, W) in [0, 1] (a tensor or an
    array), sigma (0-255) for models that read it, mask (N, 1, H, W) for inpainters ->
    (N, C, H*s, W*s) float32 tensor in [0, 1]."""
    session = (onnx_session(session_or_path) if isinstance(session_or_path, (str, Path))
               else session_or_path)
    meta = session.get_modelmeta().custom_metadata_map
    side = int(meta.get("min_side", 1))
    if min(np.shape(image)[-2:]) < side:
        raise PixelsmithError(f"the ONNX model needs images of at least {side}x{side} pixels, "
                              f"got {np.shape(image)[-1]}x{np.shape(image)[-2]} (WxH)")
    return torch.from_numpy(session.run(None, _feeds(session, image, sigma, mask))[0])


def time_onnx(path: str | Path, image, sigma=None, mask=None, *, repeats: int = 3,
              threads: int | None = None) -> float:
    """Seconds onnxruntime takes for ``image`` (N, C, H, W) in [0, 1], whole: the best of
    ``repeats`` runs after one warm-up (for ``bench/restore_speed.py``)."""
    session = onnx_session(path, threads=threads)
    feeds = _feeds(session, image, sigma, mask)
    session.run(None, feeds)  # warm-up: memory plans, kernel choices
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, feeds)
        best = min(best, time.perf_counter() - t0)
    return best


def time_torch(model: Restorer | LoadedModel, image: torch.Tensor, sigma=None, mask=None, *,
               repeats: int = 3) -> float:
    """The same timing for the PyTorch model (``Restorer.__call__`` / ``inpaint``), whole
    image, no tiles: the other half of the onnxruntime comparison."""
    from pixelsmith.restore.inpainting import inpaint

    def once() -> None:
        if isinstance(model, Restorer):
            model(image, sigma)
        else:
            inpaint(model, image, mask)

    once()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - t0)
    return best
