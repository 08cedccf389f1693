"""Likelihood and reconstruction numbers for VAE runs, as library functions and METRICS.

Protocol (what the names promise):
- ``nelbo``: negative ELBO on the first ``num`` reference images, one posterior sample per
  image (analytic KL), in nats per image (``nelbo_nats``) and bits per dimension
  (``nelbo_bpd``); an upper bound on -log p(x).
- ``nll_iw100`` (library: any k): the importance-weighted bound of Burda et al. with k
  samples per image, ``nll_iw{k}_nats`` / ``nll_iw{k}_bpd``; tighter than the ELBO.
- ``recon``: decoder mean at the posterior mean against the image, on pixels in [0, 1]
  rounded to 8 bits: ``recon_mse`` (mean over pixels and images) and ``recon_psnr_db``
  (PSNR per image with peak 1, averaged over images).
Binarised models (``objective.binarize``) are scored on binarised images: ``threshold``
is deterministic; ``dynamic`` draws one binarisation of the reference set from ``seed``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from pixelsmith.data.base import ImageData
from pixelsmith.data.transforms import from_uint8, to_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics import paired
from pixelsmith.metrics.base import EvalContext
from pixelsmith.objectives.vae import VaeObjective, bits_per_dim
from pixelsmith.registry import METRICS


def _objective(model) -> VaeObjective:
    if not isinstance(model.objective, VaeObjective):
        raise PixelsmithError(f"{getattr(model, 'path', 'this model')}: VAE metrics need a "
                              f"VAE run, not objective '{model.objective.cfg.name}'")
    return model.objective


def _batches(model, real: ImageData, num: int, seed: int, batch_size: int,
             device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor | None,
                                                     torch.Generator]]:
    """(prepared x in [-1, 1], labels, generator) over the first ``num`` images."""
    obj = _objective(model)
    if num < 1 or len(real) == 0:
        raise PixelsmithError(f"need at least one reference image, got num={num}, "
                              f"{len(real)} images")
    if obj.conditional and real.labels is None:
        raise PixelsmithError("a conditional VAE needs labelled reference images")
    shape = (model.cfg.data.img_channels, model.cfg.data.img_size, model.cfg.data.img_size)
    if tuple(real.images.shape[1:]) != shape:
        raise PixelsmithError(f"reference images are {tuple(real.images.shape[1:])}, the model "
                              f"wants {shape}; load them with the run's data.img_size/channels")
    gen = torch.Generator().manual_seed(seed)
    n = min(num, len(real))
    for i in range(0, n, batch_size):
        x = from_uint8(real.images[i : min(n, i + batch_size)])
        x = obj.prepare(x, gen).to(device)
        c = None if real.labels is None else real.labels[i : i + len(x)].to(device)
        yield x, c, gen


@torch.no_grad()
def nelbo(model, real: ImageData, *, num: int, seed: int = 0, batch_size: int = 256,
          device: torch.device | None = None) -> dict[str, float]:
    """Mean negative ELBO (nats/image and bits/dim), recon and KL over ``num`` images."""
    device = device or next(model.net.parameters()).device
    obj, sums, count = _objective(model), {"nelbo": 0.0, "recon": 0.0, "kl": 0.0}, 0
    for x, c, gen in _batches(model, real, num, seed, batch_size, device):
        t = obj.nelbo(model.net, x, c, gen)
        for k in sums:
            sums[k] += t[k].double().sum().item()
        count += len(x)
    mean = {k: v / count for k, v in sums.items()}
    return {"nelbo_nats": mean["nelbo"], "nelbo_bpd": bits_per_dim(mean["nelbo"], obj.num_dims),
            "nelbo_recon_nats": mean["recon"], "nelbo_kl_nats": mean["kl"]}


@torch.no_grad()
def iw_nll(model, real: ImageData, *, k: int, num: int, seed: int = 0, batch_size: int = 64,
           device: torch.device | None = None) -> dict[str, float]:
    """Importance-weighted NLL estimate with ``k`` samples: ``nll_iw{k}_nats`` / ``_bpd``."""
    device = device or next(model.net.parameters()).device
    obj, total, count = _objective(model), 0.0, 0
    for x, c, gen in _batches(model, real, num, seed, batch_size, device):
        total += obj.iw_nll(model.net, x, c, k=k, generator=gen).double().sum().item()
        count += len(x)
    nats = total / count
    return {f"nll_iw{k}_nats": nats, f"nll_iw{k}_bpd": bits_per_dim(nats, obj.num_dims)}


@torch.no_grad()
def recon_error(model, real: ImageData, *, num: int, seed: int = 0, batch_size: int = 256,
                device: torch.device | None = None) -> dict[str, float]:
    """Reconstruction MSE and PSNR (dB) on 8-bit pixels scaled to [0, 1]."""
    device = device or next(model.net.parameters()).device
    obj, sq, psnr, count = _objective(model), 0.0, 0.0, 0
    for x, c, _ in _batches(model, real, num, seed, batch_size, device):
        rec = obj.reconstruct(model.net, x, c if obj.conditional else None)
        a, b = from_uint8(to_uint8(x)), from_uint8(to_uint8(rec))  # on the 8-bit grid
        sq += ((a - b) / 2).double().pow(2).flatten(1).mean(1).sum().item()  # [0, 1] scale
        psnr += paired.psnr(a, b).sum().item()
        count += len(x)
    return {"recon_mse": sq / count, "recon_psnr_db": psnr / count}


@METRICS.register("nelbo", help="negative ELBO on the reference split: nats/image and bits/dim")
def nelbo_metric(ctx: EvalContext) -> dict[str, float]:
    return nelbo(ctx.model, ctx.real, num=ctx.num, seed=ctx.seed, batch_size=ctx.batch_size,
                 device=ctx.device)


@METRICS.register("nll_iw100", help="importance-weighted NLL bound, k=100 samples per image")
def nll_iw100_metric(ctx: EvalContext) -> dict[str, float]:
    return iw_nll(ctx.model, ctx.real, k=100, num=ctx.num, seed=ctx.seed,
                  batch_size=max(1, ctx.batch_size // 4), device=ctx.device)


@METRICS.register("recon", help="VAE reconstruction MSE and PSNR (dB) at the posterior mean")
def recon_metric(ctx: EvalContext) -> dict[str, float]:
    return recon_error(ctx.model, ctx.real, num=ctx.num, seed=ctx.seed,
                       batch_size=ctx.batch_size, device=ctx.device)

