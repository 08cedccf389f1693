"""The library behind ``pixelsmith evaluate``: run registered metrics on a model, record
each number with its protocol, append the records to the run's ``metrics.jsonl``."""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import pixelsmith
from pixelsmith.data.base import ImageData, load_dataset
from pixelsmith.data.roots import cache_dir
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import load_model, sampling_settings
from pixelsmith.metrics import distribution, vae  # noqa: F401 - register their metrics
from pixelsmith.metrics.base import EvalContext
from pixelsmith.registry import METRICS

FEATURES = ("evaluator", "inception")
STREAMED_REFERENCE = 50_000  # reference pictures taken from a set too large to load whole


def reference_data(data_cfg, data_root: str | None = None, num: int = 0
                   ) -> tuple[ImageData, str]:
    """The reference images: the test split when the data set has one, else train. A set
    that trains streamed (data.stream) is never loaded whole: its first
    max(num, STREAMED_REFERENCE) pictures in stored order are the reference (packs and
    streamed folders are stored shuffled, so they are a fair sample)."""
    cfg = replace(data_cfg, max_images=None, download=False,
                  root=data_root if data_root is not None else data_cfg.root)
    from pixelsmith.data.stream_sets import open_stream
    from pixelsmith.metrics.evaluator import load_test_split

    data = load_test_split(cfg)
    if data is not None:
        return data, f"{cfg.name} test"
    train = replace(cfg, split="train")
    coll = open_stream(train)
    if coll is not None:
        return coll.head(min(coll.count, max(num, STREAMED_REFERENCE))), f"{cfg.name} train"
    return load_dataset(train), f"{cfg.name} train"


def make_extractor(features: str, data_cfg, *, evaluator: str | Path | None = None,
                   inception: str | Path | None = None, device="cpu"):
    if features == "evaluator":
        from pixelsmith.metrics.evaluator import load_evaluator

        return load_evaluator(data_cfg, evaluator, device)
    if features == "inception":
        from pixelsmith.metrics.features import InceptionFeatures

        return InceptionFeatures(inception, device)
    raise PixelsmithError(f"unknown features '{features}'; choose one of: {', '.join(FEATURES)}")


def metrics_cache_dir() -> Path:
    return cache_dir() / "real_features"


def checkpoint_sha256(ckpt_dir: Path | None) -> str | None:
    from pixelsmith.hashing import sha256_file

    if ckpt_dir is None or not (Path(ckpt_dir) / "model.safetensors").is_file():
        return None
    return sha256_file(Path(ckpt_dir) / "model.safetensors")


def run_metrics(ctx: EvalContext, names: list[str], *, step: int | None = None,
                ckpt_sha: str | None = None) -> list[dict]:
    """Compute each named metric; one record (a dict) per number, protocol included."""
    for n in names:
        METRICS.entry(n)  # unknown names fail before any work
    records = []
    for n in names:
        values = METRICS.get(n)(ctx)
        ex = ctx.extractor
        protocol = {
            "features": getattr(ex, "name", None), "features_sha256": getattr(ex, "fingerprint",
                                                                              None),
            "reference": ctx.reference, "n_fake": ctx.num, "n_real": min(ctx.num, len(ctx.real)),
            "reference_images": len(ctx.real),  # the pool: fewer than the set when streamed
            "uint8": ctx.quantize, "checkpoint_sha256": ckpt_sha,
            "ema": bool(getattr(ctx.model, "used_ema", False)), "seed": ctx.seed,
            "pixelsmith": pixelsmith.__version__,
        }
        protocol.update(sampling_settings(ctx.model))
        for name, value in values.items():
            records.append({"step": step, "metric": name, name: float(value),
                            "protocol": protocol,
                            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return records


def append_records(run_dir: Path, records: list[dict]) -> Path:
    path = run_dir / "metrics.jsonl"
    with path.open("a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return path


def run_dir_of(ckpt_dir: Path) -> Path:
    """RUN/checkpoints/step_N -> RUN."""
    ckpt_dir = Path(ckpt_dir)
    return ckpt_dir.parent.parent if ckpt_dir.parent.name == "checkpoints" else ckpt_dir.parent


def evaluate(run_or_ckpt: str | Path, metrics: list[str], *, num: int = 10000, seed: int = 0,
             data_root: str | None = None, features: str = "evaluator",
             evaluator: str | Path | None = None, inception: str | Path | None = None,
             device: str = "auto", use_ema: bool = True, quantize: bool = True,
             batch_size: int = 256, write: bool = True,
             overrides: list[str] | None = None) -> list[dict]:
    """Evaluate a run's checkpoint; returns the records (and appends them to metrics.jsonl).
    ``overrides``: sampling settings (``objective.truncation=0.5``, ``objective.sampler=
    ddim``...), recorded in each record's protocol."""
    model = load_model(run_or_ckpt, device=device, use_ema=use_ema,
                       overrides=overrides or ())
    packaged = model.meta.get("packaged")  # its weights file's hash, as its manifest says
    if write and packaged:
        raise PixelsmithError(f"packaged model '{packaged['name']}' has no run folder to "
                              "record into; evaluate it with write=False")
    dev = next(model.net.parameters()).device
    real, ref = reference_data(model.cfg.data, data_root, num)
    ex = make_extractor(features, model.cfg.data, evaluator=evaluator, inception=inception,
                        device=dev)
    ctx = EvalContext(model=model, real=real, num=num, seed=seed, device=dev,
                      batch_size=batch_size, cache_dir=metrics_cache_dir(), extractor=ex,
                      quantize=quantize, reference=ref)
    records = run_metrics(ctx, metrics, step=model.meta.get("step"),
                          ckpt_sha=packaged["sha256"] if packaged else
                          checkpoint_sha256(model.path))
    bad = next((r for r in records if not math.isfinite(r[r["metric"]])), None)
    if bad is not None:  # never recorded as if it were a score
        raise PixelsmithError(f"{model.path}: metric {bad['metric']} came out "
                              f"{bad[bad['metric']]}; nothing recorded in metrics.jsonl")
    if write:
        append_records(run_dir_of(model.path), records)
    return records


def read_records(run_dir: str | Path) -> list[dict]:
    """The evaluation records (rows with a "metric" key) of a run's metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise PixelsmithError(f"{path} not found (is {run_dir} a run folder?)")
    rows = []
    text = path.read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) and not text.endswith("\n"):  # a run writing it right now
                break
            raise PixelsmithError(f"{path}: line {i} is not JSON") from None
        if "metric" in row:
            rows.append(row)
    return rows


def sampling_label(protocol: dict) -> str:
    """How a record's samples were drawn, in a few words ("ddpm, 50 steps, bf16",
    "truncation 0.5"); "" for a model's plain sampling (a GAN without the trick, a VAE):
    the same weights score differently under each, so a score is read with it."""
    p = protocol if isinstance(protocol, dict) else {}
    parts = []
    if p.get("sampler"):
        parts.append(f"{p['sampler']}, {p.get('sample_steps', '?')} steps")
        if p.get("eta"):
            parts.append(f"eta {p['eta']:g}")
        if p.get("guidance") not in (None, 1, 1.0):
            parts.append(f"guidance {p['guidance']:g}")
        if p.get("sample_precision") not in (None, "fp32"):
            parts.append(p["sample_precision"])
    if p.get("truncation"):
        parts.append(f"truncation {p['truncation']:g}")
    return ", ".join(parts)


def compare_table(runs: list[str | Path]) -> tuple[list[str], dict[str, dict[str, tuple]]]:
    """Latest record of every metric per run: (metric names, {run: {metric: (value,
    sampling_label of that record)}})."""
    table: dict[str, dict[str, tuple]] = {}
    names: list[str] = []
    for run in runs:
        latest: dict[str, tuple] = {}
        for r in read_records(run):
            latest[r["metric"]] = (r[r["metric"]], sampling_label(r.get("protocol")))
            if r["metric"] not in names:
                names.append(r["metric"])
        table[str(run)] = latest
    return names, table
