"""The gradio layout of ``pixelsmith ui``: five tabs wired to the plain functions of
``runs_tab``, ``generate_tab`` and ``restore_tab``. Nothing here computes images.

Every callback goes through ``_guard``: a ``PixelsmithError`` (a bad upload, a wrong
model) becomes its one line in the tab's status box, any other exception its first line,
so a bad request never takes the server down. Element ids (``elem_id``) name what the
browser tests click and read.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pixelsmith.errors import PixelsmithError, one_line
from pixelsmith.ui import generate_tab as G
from pixelsmith.ui import require_gradio
from pixelsmith.ui import restore_tab as R
from pixelsmith.ui import runs_tab as T
from pixelsmith.ui.catalog import ModelCache, model_choices
from pixelsmith.ui.uploads import MAX_UPLOAD_MB

LIVE_EVERY_S = 5  # the Runs tab re-reads metrics.jsonl this often while "follow" is ticked
# small pictures (16-64 px samples) shown large with square pixels, not blurred
CSS = """
.pixelated img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
.fit img { width: 100%; height: 100%; object-fit: contain; }
"""
IMAGE_TYPES = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
               ".pgm", ".pnm"]


def _guard(fn, n_out: int):
    """``fn(*args)`` -> its outputs and "" for the status box; on failure every output is
    left as it was and the status box shows the error's one line."""
    gr = require_gradio()

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            out = fn(*args, **kwargs)
        except PixelsmithError as e:
            return (*[gr.skip()] * n_out, f"⚠️ {e}")
        except Exception as e:  # noqa: BLE001 - the page says what failed; the server lives
            return (*[gr.skip()] * n_out, f"⚠️ error: {one_line(e)}")
        return (*(out if isinstance(out, tuple) else (out,)), "")

    return call


def build_app(runs_dir: str | Path, *, work_dir: str | Path | None = None,
              max_upload_mb: float = MAX_UPLOAD_MB, device: str = "auto"):
    """The app (a ``gr.Blocks``), not started. ``work_dir`` receives every picture made
    (a temporary folder when not given)."""
    gr = require_gradio()
    root = Path(runs_dir)
    if not root.is_dir():
        raise PixelsmithError(f"--runs {root} is not a folder; give the folder that holds "
                              "your run folders (pixelsmith train CONFIG --run-dir runs/NAME)")
    ctx = _Context(root, Path(work_dir or tempfile.mkdtemp(prefix="pixelsmith-ui-")),
                   ModelCache(device=device), int(max_upload_mb * 1e6))
    with gr.Blocks(title="pixelsmith") as app:
        gr.Markdown(f"## pixelsmith\nRuns in `{root}` · every picture stays on this machine")
        with gr.Tab("Runs", id="runs", elem_id="tab-runs"):
            _runs_tab(gr, app, ctx)
        with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
            _generate_tab(gr, app, ctx)
        with gr.Tab("Interpolate", id="interpolate", elem_id="tab-interpolate"):
            _interpolate_tab(gr, app, ctx)
        with gr.Tab("Restore", id="restore", elem_id="tab-restore"):
            _restore_tab(gr, app, ctx)
        with gr.Tab("Inpaint", id="inpaint", elem_id="tab-inpaint"):
            _inpaint_tab(gr, app, ctx)
    return app


@dataclass
class _Context:
    root: Path  # --runs
    work: Path  # every picture the app makes
    cache: ModelCache
    max_bytes: int  # largest upload


def _listed_on_load(gr, app, dropdown, names) -> None:
    """Each visit of the page lists the models there are now (``names()``), so runs
    trained after the app started appear on a reload."""
    def choices(value):
        have = names()
        return gr.update(choices=have, value=value if value in have else
                         (have[0] if have else None))

    app.load(choices, dropdown, dropdown)


def _status(gr, name: str):
    return gr.Markdown("", elem_id=f"{name}-status")


def _runs(gr, names: list[str], label: str, elem_id: str):
    return gr.Dropdown(names, value=names[0] if names else None, label=label,
                       elem_id=elem_id, scale=4)


def _runs_tab(gr, app, ctx: _Context) -> None:
    with gr.Row():
        run = _runs(gr, T.run_names(ctx.root), "run", "runs-run")
        rescan = gr.Button("rescan folder", scale=1)
        follow = gr.Checkbox(False, label=f"follow: re-read every {LIVE_EVERY_S} s", scale=1)
    summary = gr.Markdown(elem_id="runs-summary")
    with gr.Row():
        curves = gr.Image(label="loss and metric curves", type="filepath", format="png",
                          elem_id="runs-curves", scale=3, elem_classes="fit", height=360)
        with gr.Column(scale=2):
            step = gr.Slider(0, 1, value=0, step=1, label="sample grid at step",
                             elem_id="runs-step")
            grid = gr.Image(label="samples", type="filepath", format="png", elem_id="runs-grid",
                            elem_classes="pixelated", height=320)
    records = gr.Dataframe(headers=T.RECORD_COLUMNS, label="evaluation records",
                           interactive=False)
    config = gr.Code(language="yaml", label="config.yaml")
    status = _status(gr, "runs")
    timer = gr.Timer(LIVE_EVERY_S, active=False)

    def show(name):
        if not name:
            raise PixelsmithError(f"no run folders under {ctx.root} yet")
        v = T.show_run(ctx.root, name, ctx.work)
        first, last = (v.steps[0], v.steps[-1]) if v.steps else (0, 0)
        gap = v.steps[1] - v.steps[0] if len(v.steps) > 1 else 1
        slider = gr.update(minimum=first, maximum=max(last, first + 1), step=gap, value=last)
        grid_now = T.sample_grid(ctx.root, name, last) if v.steps else None
        return (v.summary, v.curves and str(v.curves), slider, grid_now and str(grid_now),
                v.records, v.config_text)

    outs = [summary, curves, step, grid, records, config, status]
    shown = _guard(show, len(outs) - 1)
    run.change(shown, run, outs)
    app.load(shown, run, outs)
    timer.tick(shown, run, outs)
    follow.change(lambda on: gr.Timer(active=on), follow, timer)
    rescan.click(_guard(lambda: gr.update(choices=T.run_names(ctx.root)), 1), None,
                 [run, status])
    step.release(_guard(lambda n, s: str(T.sample_grid(ctx.root, n, s) or "") or None, 1),
                 [run, step],
                 [grid, status])


def _generate_tab(gr, app, ctx: _Context) -> None:
    names = G.generator_names(ctx.root)
    with gr.Row():
        with gr.Column(scale=1):
            run = _runs(gr, names, "generator (run: NAME, or packaged)", "generate-run")
            _listed_on_load(gr, app, run, lambda: G.generator_names(ctx.root))
            info = gr.Markdown(elem_id="generate-info")
            num = gr.Slider(1, 256, value=16, step=1, label="images", elem_id="generate-num")
            seed = gr.Number(0, precision=0, label="seed (same seed, same images as "
                             "pixelsmith sample)", elem_id="generate-seed")
            klass = gr.Number(-1, precision=0, label="class (-1: any)", visible=False)
            per_class = gr.Checkbox(False, label="one row per class", visible=False)
            trunc = gr.Number(0, label="truncation t: z cut to [-t, t] (0: the run's own)",
                              visible=False)
            diffusion, settings = _diffusion_settings(gr)
            ema = gr.Checkbox(True, label="EMA weights (when the run kept them)")
            go = gr.Button("Generate", variant="primary", elem_id="generate-button")
        with gr.Column(scale=2):
            grid = gr.Image(label="samples", type="filepath", format="png",
                            elem_id="generate-grid",
                            elem_classes="pixelated", height=320)
            download = gr.File(label="download the grid", elem_id="generate-file")
    status = _status(gr, "generate")

    def describe(name):
        if not name:
            raise PixelsmithError("choose a generator first")
        m = G.model_info(ctx.cache, ctx.root, name)
        kind = f"conditional, {m.num_classes} classes" if m.num_classes else "unconditional"
        text = (f"{kind}; {m.img_size} px, {m.img_channels} channel(s); checkpoint at step "
                f"{m.step}")
        if m.summary:
            text = f"packaged: {m.summary}\n\n{text}"
        show = gr.update(visible=bool(m.num_classes))
        return (text, show, show, gr.update(visible=m.truncation is not None),
                *_own_settings(gr, m))

    shown = [info, klass, per_class, trunc, diffusion, *settings]
    describe_g = _guard(describe, len(shown))
    run.change(describe_g, run, [*shown, status])
    app.load(describe_g, run, [*shown, status])

    def make(name, n, s, k, rows, t, smp, st, gd, et, pr, use_ema):
        path = str(G.generate_grid(ctx.cache, ctx.root, name, ctx.work, num=n, seed=s,
                                   class_index=k, per_class=rows, use_ema=use_ema,
                                   overrides=G.sampling_overrides(t, smp, st, gd, et, pr)))
        return path, path

    go.click(_guard(make, 2), [run, num, seed, klass, per_class, trunc, *settings, ema],
             [grid, download, status])


def _sampler_names() -> list[str]:
    import pixelsmith.objectives  # noqa: F401 - registers the samplers
    from pixelsmith.registry import SAMPLERS

    return SAMPLERS.names()


def _diffusion_settings(gr):
    """A diffusion model's sampling settings (sampler, steps, guidance, eta, precision),
    as ``pixelsmith sample``'s options; the row shows once a diffusion model is chosen."""
    from pixelsmith.devices import PRECISIONS

    with gr.Row(visible=False) as row:
        settings = [gr.Dropdown(_sampler_names(), label="sampler", value=None),
                    gr.Number(None, precision=0, label="steps"),
                    gr.Number(None, label="guidance (conditional)"),
                    gr.Number(None, label="eta (ddim)"),
                    gr.Dropdown(list(PRECISIONS), value=None,
                                label="precision (bf16: ~2x faster where native)")]
    return row, settings


def _own_settings(gr, m: G.ModelInfo) -> tuple:
    """The settings row's visibility and the chosen model's own values, to change."""
    own = m.sampling  # empty for GANs and VAEs
    return (gr.update(visible=bool(own)), own.get("sampler"), own.get("sample_steps"),
            own.get("guidance"), own.get("eta"), own.get("sample_precision"))


def _interpolate_tab(gr, app, ctx: _Context) -> None:
    names = G.generator_names(ctx.root)
    frames = gr.State([])
    with gr.Row():
        with gr.Column(scale=1):
            run = _runs(gr, names, "generator (run: NAME, or packaged)", "interpolate-run")
            _listed_on_load(gr, app, run, lambda: G.generator_names(ctx.root))
            mode = gr.Radio(["random ends (seed)", "two seeds (sample A to sample B)",
                             "two uploaded pictures (models with an encoder)"],
                            value="random ends (seed)", label="walk between")
            with gr.Row(visible=False) as pictures:
                a = gr.File(label="picture A", file_types=IMAGE_TYPES, type="filepath")
                b = gr.File(label="picture B", file_types=IMAGE_TYPES, type="filepath")
            steps = gr.Slider(2, G.MAX_STEPS, value=8, step=1, label="frames per walk")
            rows = gr.Slider(1, 16, value=4, step=1, label="walks (random ends)")
            seed = gr.Number(0, precision=0, label="seed (A)")
            seed_b = gr.Number(1, precision=0, label="seed B (`pixelsmith sample --seed B`'s "
                               "first image)", visible=False)
            klass = gr.Number(-1, precision=0, label="class for conditional models (-1: any)")
            trunc = gr.Number(0, label="GANs: truncation t (0: the run's own)")
            diffusion, settings = _diffusion_settings(gr)
            go = gr.Button("Interpolate", variant="primary", elem_id="interpolate-button")
        with gr.Column(scale=2):
            at = gr.Slider(0, 7, value=0, step=1, label="position along the walk",
                           elem_id="interpolate-at")
            with gr.Row():
                frame = gr.Image(label="frame", type="filepath", format="png",
                                 elem_id="interpolate-frame", elem_classes="pixelated",
                                 height=320)
                gif = gr.Image(label="animation", type="filepath", format="gif",
                               elem_id="interpolate-gif", elem_classes="pixelated", height=320)
            download = gr.File(label="download (GIF and grid PNG)", file_count="multiple")
    status = _status(gr, "interpolate")
    mode.change(lambda m: (gr.update(visible=m.startswith("two uploaded")),
                           gr.update(visible=m.startswith("two seeds"))), mode, [pictures, seed_b])

    def own(name):  # a diffusion model shows its sampler settings, to change
        return _own_settings(gr, G.model_info(ctx.cache, ctx.root, name)) if name else \
            (gr.update(visible=False), *[None] * len(settings))

    own_g = _guard(own, 1 + len(settings))
    run.change(own_g, run, [diffusion, *settings, status])
    app.load(own_g, run, [diffusion, *settings, status])

    def walk(name, m, pa, pb, n, r, s, sb, k, t, smp, st, gd, et, pr):
        between = (pa, pb) if m.startswith("two uploaded") else None
        res = G.interpolate_walk(ctx.cache, ctx.root, name, ctx.work, steps=n, rows=r,
                                 seed=s, class_index=k, between=between,
                                 seed_b=sb if m.startswith("two seeds") else None,
                                 max_upload_bytes=ctx.max_bytes,
                                 overrides=G.sampling_overrides(t, smp, st, gd, et, pr))
        paths = [str(p) for p in res.frames]
        return (paths, gr.update(maximum=len(paths) - 1, value=0), paths[0], str(res.gif),
                [str(res.gif), str(res.png)])

    go.click(_guard(walk, 5), [run, mode, a, b, steps, rows, seed, seed_b, klass, trunc,
                               *settings], [frames, at, frame, gif, download, status])
    at.change(lambda fs, i: fs[int(i)] if fs and int(i) < len(fs) else gr.skip(),
              [frames, at], frame)


def _restore_models(root: Path, task: str) -> list[str]:
    have = model_choices(root, task)
    return [R.AUTO] + have if R.picks_automatically(task) else have


def _restore_tab(gr, app, ctx: _Context) -> None:
    first = _restore_models(ctx.root, "denoise")
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(label="picture (any size)", file_types=IMAGE_TYPES,
                             type="filepath", elem_id="restore-upload")
            task = gr.Radio(list(R.RESTORE_TASKS), value="denoise", label="task",
                            info="sr: super-resolution")
            model = gr.Dropdown(first, value=first[0] if first else None,
                                label="model (packaged, or run: NAME)", elem_id="restore-model")
            sigma = gr.Number(-1, label="noise level σ on 0-255 (-1: estimated or the "
                              "model's own)")
            go = gr.Button("Restore", variant="primary", elem_id="restore-button")
        with gr.Column(scale=2):
            compare = gr.ImageSlider(label="before | after", type="filepath", format="png",
                                     elem_id="restore-compare")
            download = gr.File(label="download the result at full size",
                               elem_id="restore-file")
            note = gr.Markdown(elem_id="restore-note")
    status = _status(gr, "restore")

    def models_for(t):
        have = _restore_models(ctx.root, t)
        return gr.update(choices=have, value=have[0] if have else None)

    task.change(_guard(models_for, 1), task, [model, status])
    app.load(_guard(models_for, 1), task, [model, status])  # runs trained since: on reload

    def run(path, t, m, s, progress=gr.Progress()):  # noqa: B008 - gradio's progress hook
        def tiles(done, total):
            progress(done / total, desc=f"tile {done}/{total}")

        res = R.restore_upload(ctx.cache, ctx.root, path, ctx.work, task=t, model=m,
                               sigma=s, max_upload_bytes=ctx.max_bytes, on_tile=tiles)
        return (str(res.before), str(res.after)), str(res.after), res.message

    go.click(_guard(run, 3), [upload, task, model, sigma], [compare, download, note, status])


def _inpaint_tab(gr, app, ctx: _Context) -> None:
    first = model_choices(ctx.root, "inpaint")
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(label="picture", file_types=IMAGE_TYPES, type="filepath",
                             elem_id="inpaint-upload")
            method = gr.Radio(list(R.INPAINT_METHODS), value="telea", label="inpainter")
            model = gr.Dropdown(first, value=first[0] if first else None,
                                label="trained model (packaged, or run: NAME)")
            _listed_on_load(gr, app, model, lambda: model_choices(ctx.root, "inpaint"))
            go = gr.Button("Inpaint", variant="primary", elem_id="inpaint-button")
        with gr.Column(scale=2):
            editor = gr.ImageEditor(label="paint the hole with the brush", type="numpy",
                                    image_mode="RGBA", sources=(), format="png",
                                    transforms=(), layers=False, elem_id="inpaint-editor",
                                    brush=gr.Brush(colors=["rgb(255, 0, 255)"],
                                                   color_mode="fixed"))
    with gr.Row():
        masked = gr.Image(label="hole", type="filepath", format="png",
                          elem_classes="pixelated", height=320)
        result = gr.Image(label="filled", type="filepath", format="png",
                          elem_id="inpaint-result", elem_classes="pixelated", height=320)
    note = gr.Markdown(elem_id="inpaint-note")
    status = _status(gr, "inpaint")

    def load(path):
        pic = str(R.editor_picture(path, ctx.work, ctx.max_bytes))
        return {"background": pic, "layers": [], "composite": pic}

    upload.change(_guard(load, 1), upload, [editor, status])

    def fill(path, value, how, m):
        layers = (value or {}).get("layers") or []
        res = R.inpaint_upload(ctx.cache, ctx.root, path, layers, ctx.work, method=how,
                               model=m, max_upload_bytes=ctx.max_bytes)
        return str(res.masked), str(res.result), res.message

    go.click(_guard(fill, 3), [upload, editor, method, model], [masked, result, note, status])


def launch(runs_dir: str | Path, *, host: str = "127.0.0.1", port: int = 7860,
           max_upload_mb: float = MAX_UPLOAD_MB, device: str = "auto",
           block: bool = True, quiet: bool = False, on_ready=None):
    """Start the app on ``host:port``; ``on_ready()`` is called once it answers; with
    ``block`` serve until Ctrl-C."""
    app = build_app(runs_dir, max_upload_mb=max_upload_mb, device=device)
    app.queue(default_concurrency_limit=1)  # one model job at a time: CPUs are shared
    try:
        app.launch(server_name=host, server_port=port, max_file_size=int(max_upload_mb * 1e6),
                   allowed_paths=[str(Path(runs_dir).resolve())], prevent_thread_lock=True,
                   quiet=quiet, footer_links=[], show_error=False, css=CSS)
        if on_ready is not None:
            on_ready()
        if block:
            app.block_thread()  # Ctrl-C closes the server and returns
    except BaseException:  # Ctrl-C while starting: no server left behind
        app.close()
        raise
    return app
