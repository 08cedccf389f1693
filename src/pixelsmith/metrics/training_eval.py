"""Metrics during training: a trainer callback that evaluates every ``train.eval_every``
steps, logs to TensorBoard and ``metrics.jsonl`` (with the protocol) and pins the ``best``
checkpoint by ``train.best_metric``."""

from __future__ import annotations

import re
import warnings

import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.generate.loading import LoadedModel
from pixelsmith.metrics.base import EvalContext
from pixelsmith.metrics.evaluate import (
    append_records,
    checkpoint_sha256,
    make_extractor,
    metrics_cache_dir,
    reference_data,
    run_metrics,
)
from pixelsmith.registry import METRICS
from pixelsmith.training import distributed as dist
from pixelsmith.training.checkpoint import pin_best, read_pointer

HIGHER_IS_BETTER = frozenset({"is", "precision", "recall", "acc"})


def short_name(full: str) -> str:
    """``fid10k@digits-evaluator`` -> ``fid``; ``kid64@x_std`` -> ``kid_std``."""
    head, _, tail = full.partition("@")
    return re.sub(r"\d+k?$", "", head) + ("_std" if tail.endswith("_std") else "")


def is_better(short: str, new: float, old: float | None) -> bool:
    if old is None:
        return True
    return new > old if short in HIGHER_IS_BETTER else new < old


def attach_evaluation(trainer) -> None:
    """Register the callback when ``train.eval_every`` is set; otherwise do nothing."""
    t = trainer.cfg.train
    if not t.eval_every:
        return
    if t.eval_every < 0 or t.eval_num < 2:
        raise PixelsmithError("train.eval_every must be >= 0 and train.eval_num >= 2")
    objective = trainer.objective
    if not objective.makes_images:  # their samples are panels, not images
        name = trainer.cfg.objective.name
        raise PixelsmithError(
            f"train.eval_every: metrics during training are for generators (GAN, VAE); a "
            f"{name} model logs its PSNR every step and is scored with {objective.benchmark}")

    names = [m.strip() for m in t.eval_metrics.split(",") if m.strip()]
    for n in names:
        METRICS.entry(n)  # fail at start, not after an hour of training
    state: dict = {"ctx": None, "best": _current_best(trainer, t.best_metric)}
    # several ranks: rank 0 evaluates alone while the others wait in the trainer's barrier
    # whose timeout is long (an evaluation may outlast PIXELSMITH_DIST_TIMEOUT)
    group = trainer.wait_group

    def evaluate(tr) -> None:
        if tr.step % t.eval_every:
            return
        if tr.dist.is_main:
            _evaluate(tr)
        dist.wait_together(group)  # a rank 0 that failed exits: gloo ends the others' wait

    def _evaluate(tr) -> None:
        if state["ctx"] is None:
            state["ctx"] = _context(tr)
        ctx = state["ctx"]
        net = tr.sampling_net()
        was_training = net.training
        net.eval()
        ctx.model = LoadedModel(tr.cfg, {"data": {"num_classes": tr.info.num_classes}},
                                tr.objective, net, tr.run_dir, tr.ema is not None)
        ctx.memo = {k: v for k, v in ctx.memo.items() if k.startswith("real")}  # new fakes
        cuda = [tr.device] if tr.device.type == "cuda" else []
        try:  # rank 0 alone: a forked RNG keeps the ranks' lockstep streams in step
            with torch.random.fork_rng(devices=cuda):
                records = run_metrics(ctx, names, step=tr.step)
        finally:
            net.train(was_training)
        values = {r["metric"]: r[r["metric"]] for r in records}
        pick = [k for k in values if short_name(k) == t.best_metric]
        if t.best_metric and pick and is_better(t.best_metric, values[pick[0]], state["best"]):
            path = tr.save()
            pin_best(tr.run_dir / "checkpoints", path, pick[0], values[pick[0]])
            state["best"] = values[pick[0]]
            for r in records:
                r["protocol"]["checkpoint_sha256"] = checkpoint_sha256(path)
        append_records(tr.run_dir, records)
        if tr.log.enabled:
            for k, v in values.items():
                tr.log.tb.add_scalar(f"eval/{k}", v, tr.step)

    trainer.add_callback("on_step_end", evaluate)
    trainer.evaluating = True


def _context(tr) -> EvalContext:
    t = tr.cfg.train
    real, ref = reference_data(tr.cfg.data, num=t.eval_num)
    ex = make_extractor(t.eval_features, tr.cfg.data, device=tr.device)
    return EvalContext(model=None, real=real, num=t.eval_num, seed=t.seed, device=tr.device,
                       batch_size=max(t.batch_size, 256), cache_dir=metrics_cache_dir(),
                       extractor=ex, reference=ref)


def _current_best(trainer, metric: str) -> float | None:
    """On resume, the value behind ``best.json`` so a worse checkpoint does not replace it."""
    if not metric:
        return None
    try:
        best = read_pointer(trainer.run_dir / "checkpoints", "best.json")
    except PixelsmithError as e:  # damaged: the next save moves it aside; start afresh
        warnings.warn(f"{e}; the best checkpoint is picked anew", stacklevel=2)
        return None
    if best is None or not isinstance(best.get("value"), (int, float)):
        return None
    return best["value"] if short_name(str(best.get("metric", ""))) == metric else None
