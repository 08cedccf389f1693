"""Distribution metrics for generators, registered in METRICS.

Each takes an EvalContext and returns ``{full_name: value}``; names state the protocol:
``fid10k@fashion-mnist-evaluator`` = FID of 10,000 generated images against the reference
split, on the features of the fashion-mnist evaluator.
"""

from __future__ import annotations

import hashlib
import json

import torch
from safetensors.torch import load_file, save_file

from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics import math as M
from pixelsmith.metrics.base import EvalContext
from pixelsmith.registry import METRICS


def count_tag(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def metric_name(ctx: EvalContext, short: str) -> str:
    return f"{short}{count_tag(ctx.num)}@{_extractor(ctx).name}"


def _extractor(ctx: EvalContext):
    if ctx.extractor is None:
        raise PixelsmithError("this metric needs a feature extractor (evaluator or inception)")
    return ctx.extractor


def _labels(ctx: EvalContext) -> torch.Tensor | None:
    k = ctx.model.meta["data"]["num_classes"]
    return torch.arange(ctx.num) % k if k else None


def fake_images(ctx: EvalContext) -> torch.Tensor:
    """ctx.num generated images as uint8 (N, C, H, W); quantised like files unless asked."""
    if "fake" not in ctx.memo:
        from pixelsmith.data.transforms import to_uint8
        from pixelsmith.generate.sampling import generate

        x = generate(ctx.model, ctx.num, seed=ctx.seed, batch_size=ctx.batch_size,
                     labels=_labels(ctx))
        if not ctx.quantize:  # only for studying the effect; features of unrounded values
            ctx.memo["fake_float"] = x
        ctx.memo["fake"] = to_uint8(x)
    return ctx.memo["fake"]


def fake_features(ctx: EvalContext) -> tuple[torch.Tensor, torch.Tensor | None]:
    if "fake_feats" not in ctx.memo:
        ex = _extractor(ctx)
        images = fake_images(ctx)
        if not ctx.quantize:
            with torch.no_grad():
                x = ctx.memo["fake_float"]
                outs = [ex.forward(x[i : i + ctx.batch_size].to(ctx.device))
                        for i in range(0, len(x), ctx.batch_size)]
            f = torch.cat([o[0].float().cpu() for o in outs])
            p = torch.cat([o[1].float().cpu() for o in outs]) if outs[0][1] is not None else None
            ctx.memo["fake_feats"] = (f, p)
        else:
            ctx.memo["fake_feats"] = ex(images, device=ctx.device, batch_size=ctx.batch_size)
    return ctx.memo["fake_feats"]


def real_key(ctx: EvalContext, n_real: int) -> str:
    from pixelsmith.metrics.evaluator import tensor_sha256

    parts = {"extractor": _extractor(ctx).name, "weights": _extractor(ctx).fingerprint,
             "reference": ctx.reference, "n_real": n_real,
             "data_sha256": tensor_sha256(ctx.real.images[:n_real]),
             "shape": list(ctx.real.images.shape[1:])}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def real_features(ctx: EvalContext) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features of the first min(num, len(real)) reference images, cached on disk."""
    if "real_feats" in ctx.memo:
        return ctx.memo["real_feats"]
    n = min(ctx.num, len(ctx.real))
    path = None
    if ctx.cache_dir is not None:
        path = ctx.cache_dir / f"real-{real_key(ctx, n)}.safetensors"
        if path.is_file():
            t = load_file(str(path))
            ctx.memo["real_feats"] = (t["features"], t.get("probs"))
            ctx.memo["real_cached"] = True
            return ctx.memo["real_feats"]
    f, p = _extractor(ctx)(ctx.real.images[:n], device=ctx.device, batch_size=ctx.batch_size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        save_file({"features": f.contiguous()} | ({} if p is None else {"probs": p.contiguous()}),
                  str(tmp))
        tmp.replace(path)
    ctx.memo["real_feats"] = (f, p)
    ctx.memo["real_cached"] = False
    return f, p


def _probs(ctx: EvalContext) -> torch.Tensor:
    p = fake_features(ctx)[1]
    if p is None:
        raise PixelsmithError(f"features '{_extractor(ctx).name}' give no class probabilities")
    return p


@METRICS.register("fid", help="Frechet distance of generated vs reference features (lower=better)")
def fid(ctx: EvalContext) -> dict[str, float]:
    return {metric_name(ctx, "fid"): M.fid_from_features(real_features(ctx)[0],
                                                         fake_features(ctx)[0])}


@METRICS.register("kid", help="kernel distance: unbiased MMD^2, cubic kernel, mean and std "
                              "over 100 subsets (lower=better)")
def kid(ctx: EvalContext) -> dict[str, float]:
    mean, std = M.kid_from_features(real_features(ctx)[0], fake_features(ctx)[0],
                                    subset_size=1000, num_subsets=100, seed=ctx.seed)
    name = metric_name(ctx, "kid")
    return {name: mean, f"{name}_std": std}


@METRICS.register("is", help="Inception Score with the extractor's classifier, 10 splits "
                             "(higher=better)")
def inception_score(ctx: EvalContext) -> dict[str, float]:
    mean, std = M.inception_score(_probs(ctx), num_splits=10)
    name = metric_name(ctx, "is")
    return {name: mean, f"{name}_std": std}


@METRICS.register("pr", help="improved precision and recall, k=3 nearest-neighbour manifolds "
                             "(higher=better)")
def precision_recall(ctx: EvalContext) -> dict[str, float]:
    p, r = M.precision_recall(real_features(ctx)[0], fake_features(ctx)[0], k=3)
    return {metric_name(ctx, "precision"): p, metric_name(ctx, "recall"): r}


@METRICS.register("acc", help="class accuracy of conditional samples: does the evaluator "
                              "see the class that was asked for (higher=better)")
def class_accuracy(ctx: EvalContext) -> dict[str, float]:
    labels = _labels(ctx)
    if labels is None:
        raise PixelsmithError("metric 'acc' needs a conditional (class-labelled) model")
    if _extractor(ctx).num_classes != ctx.model.meta["data"]["num_classes"]:
        raise PixelsmithError(f"metric 'acc': features '{_extractor(ctx).name}' know "
                              f"{_extractor(ctx).num_classes} classes, the model "
                              f"{ctx.model.meta['data']['num_classes']}")
    pred = _probs(ctx).argmax(1)
    return {metric_name(ctx, "acc"): float((pred == labels).double().mean())}


@METRICS.register("cas", help="classification accuracy score: a classifier trained on "
                              "generated class-conditional images only, tested on the "
                              "reference images (higher=better)")
def classification_accuracy_score(ctx: EvalContext) -> dict[str, float]:
    from pixelsmith.data.base import ImageData
    from pixelsmith.metrics.evaluator import accuracy, fit_classifier

    labels = _labels(ctx)
    if labels is None or ctx.real.labels is None:
        raise PixelsmithError("metric 'cas' needs a class-conditional model and labelled "
                              "reference images")
    fake = ImageData(fake_images(ctx), labels, ctx.real.class_names)
    net, _ = fit_classifier(fake, img_channels=fake.images.shape[1], epochs=10,
                            device=ctx.device, seed=ctx.seed, log=lambda s: None)
    real = ctx.real
    n = min(len(real), 10000)
    acc = accuracy(net, ImageData(real.images[:n], real.labels[:n], real.class_names),
                   ctx.device)
    ref = ctx.reference.replace(" ", "-")
    return {f"cas{count_tag(ctx.num)}@{ref}": acc}
