"""The GAN objective: a D phase (n_critic times) then a G phase, losses from GAN_LOSSES,
regularisers (gradient penalty, R1, weight clipping), ACGAN's class loss and DiffAugment
as options. Conditional networks (``num_classes`` > 0) get labels; others do not."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pixelsmith.errors import PixelsmithError
from pixelsmith.objectives.base import Batch, Objective, Phase, adam
from pixelsmith.objectives.diffaugment import parse_policy
from pixelsmith.objectives.regularizers import (
    clip_weights,
    gradient_penalty,
    orthogonal_penalty,
    r1_penalty,
)
from pixelsmith.registry import GAN_LOSSES, OBJECTIVES


@dataclass
class GanObjectiveConfig:
    name: str = "gan"
    loss: str = "non-saturating"  # a registered GAN loss (see `pixelsmith list`)
    lr_g: float = 2e-4
    lr_d: float = 2e-4  # a different lr_g / lr_d is the TTUR (Heusel et al. 2017)
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # D steps per G step
    gp_weight: float = 0.0  # WGAN-GP gradient penalty weight (Gulrajani 2017 use 10); 0 = off
    r1_weight: float = 0.0  # R1 penalty gamma on real images (Mescheder 2018); 0 = off
    clip_weight: float = 0.0  # original WGAN: clip D weights to [-c, c] after each D step (0.01)
    aux_weight: float = 1.0  # ACGAN class loss weight, when D has an auxiliary classifier
    diffaugment: str = ""  # DiffAugment policy on real and fake, e.g. "color,translation,cutout"
    drift_weight: float = 0.0  # ProGAN's drift term: weight of E[D(x)^2] on real scores (0.001)
    # BigGAN's orthogonal regularisation of G's weights: weight of sum ||W W^T * (1 - I)||_F^2
    # (W: a weight as a matrix, one row per output; embeddings excluded); 0 = off. The
    # official code's beta 1e-4 applies the gradient 2 (W W^T * (1 - I)) W, i.e. 5e-5 here
    ortho_weight: float = 0.0
    # the truncation trick (BigGAN): sample z from N(0, 1) cut to [-t, t]; 0 = plain N(0, 1).
    # A sampling setting: `pixelsmith sample --truncation 0.5` sets it on a trained model
    truncation: float = 0.0


@OBJECTIVES.register("gan", config=GanObjectiveConfig, help="adversarial training of G against D")
class GanObjective(Objective):
    sample_module = "generator"

    def __init__(self, cfg: GanObjectiveConfig, nets, info, device, **kw):
        super().__init__(cfg, nets, info, device, **kw)
        self.loss_fn = GAN_LOSSES.get(cfg.loss)()
        g, d = nets["generator"], nets["discriminator"]
        self.z_dim = g.z_dim
        self.g_classes = getattr(g, "num_classes", 0)  # G takes labels
        self.d_classes = getattr(d, "num_classes", 0)  # D takes labels
        self.aux_classes = getattr(d, "aux_classes", 0)  # D returns class logits (ACGAN)
        self.num_classes = max(self.g_classes, self.d_classes, self.aux_classes)
        self.sample_classes = self.g_classes
        for key in ("n_critic",):
            if getattr(cfg, key) < 1:
                raise PixelsmithError(f"objective.{key} must be >= 1, got {getattr(cfg, key)}")
        for key in ("gp_weight", "r1_weight", "clip_weight", "aux_weight", "drift_weight",
                    "ortho_weight", "truncation"):
            if getattr(cfg, key) < 0:
                raise PixelsmithError(f"objective.{key} must be >= 0, got {getattr(cfg, key)}")
        self.augment = parse_policy(cfg.diffaugment)

    def phases(self) -> list[Phase]:
        g, d = self.nets["generator"], self.nets["discriminator"]
        cfg = self.cfg
        after_d = (lambda: clip_weights(d, cfg.clip_weight)) if cfg.clip_weight > 0 else None
        return [
            Phase("d", ("discriminator",), adam(d.parameters(), lr=cfg.lr_d, betas=cfg.betas,
                                                device=self.device),
                  self.d_step, repeats=cfg.n_critic, after_step=after_d),
            # G only needs the batch size (and labels): it reuses D's last batch
            Phase("g", ("generator",), adam(g.parameters(), lr=cfg.lr_g, betas=cfg.betas,
                                            device=self.device), self.g_step, fresh_batch=False),
        ]

    # ------------------------------------------------------------- networks
    def _labels(self, batch: Batch) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if batch.c is None:
            raise PixelsmithError("this model is conditional but the batch has no labels")
        return batch.c

    def _g(self, z, c):
        return self.nets["generator"](z, c) if self.g_classes else self.nets["generator"](z)

    def _d(self, x, c):
        """(logits (B,), class logits (B, K) or None) for images ``x`` with labels ``c``."""
        d = self.nets["discriminator"]
        out = d(x, c) if self.d_classes else d(x)
        return out if isinstance(out, tuple) else (out, None)

    def _z(self, n: int) -> torch.Tensor:
        return self.randn(n, self.z_dim)

    # ---------------------------------------------------------------- phases
    def d_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg, c = self.cfg, self._labels(batch)
        with torch.no_grad():
            fake = self._g(self._z(batch.x.shape[0]), c)
        real = batch.x.detach().requires_grad_(cfg.r1_weight > 0)
        real_logits, real_cls = self._d(self.augment(real), c)
        fake_logits, fake_cls = self._d(self.augment(fake), c)
        loss = self.loss_fn.d_loss(real_logits.float(), fake_logits.float())
        out = {"real_logit": real_logits.detach().float().mean(),
               "fake_logit": fake_logits.detach().float().mean()}
        if cfg.gp_weight > 0:
            out["gp"] = gradient_penalty(lambda x: self._d(x, c)[0], batch.x, fake,
                                         eps=self.rand(batch.x.shape[0]))
            loss = loss + cfg.gp_weight * out["gp"]
        if cfg.r1_weight > 0:
            out["r1"] = r1_penalty(real_logits, real)
            loss = loss + cfg.r1_weight / 2 * out["r1"]
        if cfg.drift_weight > 0:  # keeps the critic's scores from drifting far from 0
            out["drift"] = real_logits.float().pow(2).mean()
            loss = loss + cfg.drift_weight * out["drift"]
        if real_cls is not None:
            out["aux"] = (F.cross_entropy(real_cls.float(), c)
                          + F.cross_entropy(fake_cls.float(), c))
            loss = loss + cfg.aux_weight * out["aux"]
        return {"loss": loss, **out}

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        c = self._labels(batch)
        fake_logits, fake_cls = self._d(self.augment(self._g(self._z(batch.x.shape[0]), c)), c)
        loss = self.loss_fn.g_loss(fake_logits.float())
        out = {}
        if fake_cls is not None:
            out["aux"] = F.cross_entropy(fake_cls.float(), c)
            loss = loss + self.cfg.aux_weight * out["aux"]
        if self.cfg.ortho_weight > 0:
            out["ortho"] = orthogonal_penalty(self.nets["generator"])
            loss = loss + self.cfg.ortho_weight * out["ortho"]
        return {"loss": loss, **out}

    # -------------------------------------------------------------- sampling
    def sample_inputs(self, num, generator, labels=None):
        t = self.cfg.truncation
        z = truncated_randn(num, self.z_dim, t, generator) if t > 0 else torch.randn(
            num, self.z_dim, generator=generator)
        if not self.g_classes:
            return {"z": z}
        if labels is None:
            labels = torch.randint(self.g_classes, (num,), generator=generator)
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if labels.shape != (num,):
            raise PixelsmithError(f"need {num} labels, got {labels.shape[0]}")
        if labels.min() < 0 or labels.max() >= self.g_classes:
            raise PixelsmithError(f"class labels must be in 0..{self.g_classes - 1}")
        return {"z": z, "c": labels}

    def interpolate_inputs(self, a, b, t):
        out = super().interpolate_inputs(a, b, t)
        if self.cfg.truncation > 0:  # slerp can leave the cube [-t, t]^d: stay inside it
            out["z"] = out["z"].clamp(-self.cfg.truncation, self.cfg.truncation)
        return out

    def encode(self, net, x, labels=None):
        raise PixelsmithError("a GAN has no encoder, so it cannot start from images "
                              "(--between needs a model that encodes, such as a VAE)")

    @torch.no_grad()
    def sample(self, net, inputs, noise=None):
        z = inputs["z"].to(self.device)
        if self.g_classes:
            return net(z, inputs["c"].to(self.device))
        return net(z)


def truncated_randn(num: int, dim: int, threshold: float,
                    generator: torch.Generator) -> torch.Tensor:
    """(num, dim) draws of N(0, 1) conditioned on [-threshold, threshold] (the truncation
    trick), by the inverse CDF of one uniform per value: a seed fixes them and no value
    lies beyond the threshold (BigGAN resamples instead; the distribution is the same)."""
    u = torch.rand(num, dim, generator=generator, dtype=torch.float64)
    lo = torch.special.ndtr(torch.tensor(-threshold, dtype=torch.float64))
    z = torch.special.ndtri(lo + u * (1 - 2 * lo))
    return z.float().clamp(-threshold, threshold)
