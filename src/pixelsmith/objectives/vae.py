"""The VAE objective: one phase that minimises the negative ELBO (with a β weight on the KL).

    nelbo(x) = -E_q(z|x)[log p(x|z)] + KL(q(z|x) || N(0, I))       nats per image
    loss     = mean over the batch of  recon + β_t · KL,   β_t = β · min(1, step / kl_warmup_steps)

The reconstruction term uses one reparameterised sample z = mu + sigma * eps; the KL is
analytic. ``bpd`` = nelbo / (C·H·W · ln 2). With β = 1 and no warm-up this is the plain VAE;
β ≠ 1 is the β-VAE; the conditional model (``cvae``) gets labels in both networks.
The likelihood p(x|z) comes from ``LIKELIHOODS`` (see likelihoods.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pixelsmith.config.schema import choice
from pixelsmith.errors import PixelsmithError
from pixelsmith.objectives.base import Batch, Objective, Phase, adam
from pixelsmith.objectives.likelihoods import LIKELIHOODS
from pixelsmith.registry import OBJECTIVES

LOG_2PI = math.log(2 * math.pi)


@dataclass
class VaeObjectiveConfig:
    name: str = "vae"
    likelihood: str = choice("logistic", "logistic", "gaussian", "gaussian-fixed", "bernoulli",
                             help="p(x|z); gaussian learns its std, gaussian-fixed uses fixed_std")
    fixed_std: float = 0.1  # std of gaussian-fixed, in [-1, 1] pixel units
    binarize: str = choice("none", "none", "dynamic", "threshold",
                           help="dynamic: pixel ~ Bernoulli(intensity), resampled every batch; "
                                "threshold: pixel >= 128 -> 1")
    beta: float = 1.0  # weight of the KL term (β-VAE when != 1)
    kl_warmup_steps: int = 0  # the KL weight rises linearly from 0 to beta over these steps
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row, in nats: (B, Z) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)


def bits_per_dim(nats: torch.Tensor | float, num_dims: int):
    """Nats per image -> bits per dimension (one dimension = one channel of one pixel)."""
    return nats / (num_dims * math.log(2))


def kl_weight(beta: float, warmup_steps: int, step: torch.Tensor | float):
    """β_t = β · min(1, step / warmup_steps); β at once when warmup_steps is 0."""
    if warmup_steps <= 0:
        return beta
    return beta * torch.clamp(torch.as_tensor(step, dtype=torch.float32) / warmup_steps, max=1.0)


@OBJECTIVES.register("vae", config=VaeObjectiveConfig,
                     help="negative ELBO (β-weighted KL, warm-up) with a chosen likelihood")
class VaeObjective(Objective):
    sample_module = "vae"

    def __init__(self, cfg: VaeObjectiveConfig, nets, info, device, **kw):
        super().__init__(cfg, nets, info, device, **kw)
        if "vae" not in nets:
            raise PixelsmithError(f"objective 'vae' needs a VAE model (model.name vae or cvae), "
                                  f"got networks {', '.join(nets)}")
        if cfg.likelihood == "gaussian-fixed" and cfg.fixed_std <= 0:
            raise PixelsmithError(f"objective.fixed_std must be > 0, got {cfg.fixed_std}")
        if cfg.beta < 0 or cfg.kl_warmup_steps < 0:
            raise PixelsmithError("objective.beta and objective.kl_warmup_steps must be >= 0")
        self.likelihood = LIKELIHOODS.get(cfg.likelihood)(cfg)
        self.z_dim = nets["vae"].z_dim
        self.conditional = nets["vae"].conditional
        # sample --class / --per-class and per-class grids read this, as for conditional GANs
        self.sample_classes = info.num_classes if self.conditional else 0
        self.num_dims = info.img_channels * info.img_size**2

    # -------------------------------------------------------------- training
    def phases(self) -> list[Phase]:
        vae = self.nets["vae"]
        optimizer = adam(vae.parameters(), lr=self.cfg.lr, betas=self.cfg.betas,
                         device=self.device)
        return [Phase("vae", ("vae",), optimizer, self.loss)]

    def current_kl_weight(self):
        """β_t at the step being trained (the trainer's ``begin_step``)."""
        return kl_weight(self.cfg.beta, self.cfg.kl_warmup_steps, self.step)

    def prepare(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """The images the likelihood models: binarised when ``objective.binarize`` asks."""
        if self.cfg.binarize == "threshold":
            return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)  # x >= 0 <=> pixel >= 128
        if self.cfg.binarize == "dynamic":
            p = ((x.float() + 1) / 2).clamp(0, 1)
            if generator is None:
                return torch.bernoulli(p) * 2 - 1
            return (torch.bernoulli(p.cpu(), generator=generator) * 2 - 1).to(x.device)
        return x

    def terms(self, net, x: torch.Tensor, c: torch.Tensor | None = None,
              eps: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-image ``recon`` (-log p(x|z), one sample) and ``kl``, both in nats, (B,)."""
        mu, logvar = net.encode(x, c)
        mu, logvar = mu.float(), logvar.float()
        if eps is None:
            eps = self.randn(*mu.shape).to(mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation: gradients reach mu, logvar
        loc, log_scale = net.decode(z, c)
        recon = -self.likelihood.log_prob(loc, log_scale, x)
        return {"recon": recon, "kl": gaussian_kl(mu, logvar)}

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = self.prepare(batch.x)
        t = self.terms(self.nets["vae"], x, batch.c if self.conditional else None)
        recon, kl = t["recon"].mean(), t["kl"].mean()
        # the float32 weight as a plain number: no host-to-device copy (and sync) each step;
        # mul casts it back to float32, so the loss is bit for bit the tensor product's
        weight = float(torch.as_tensor(self.current_kl_weight(), dtype=torch.float32))
        nelbo = recon + kl
        return {
            "loss": recon + weight * kl,
            "nelbo_nats": nelbo.detach(),
            "bpd": bits_per_dim(nelbo.detach(), self.num_dims),
            "recon": recon.detach(),
            "kl": kl.detach(),
            "kl_weight": weight,
        }

    # ------------------------------------------------------------ evaluation
    @torch.no_grad()
    def nelbo(self, net, x: torch.Tensor, c: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-image negative ELBO, recon and KL in nats for prepared images ``x``."""
        mu_shape = (x.shape[0], self.z_dim)
        eps = torch.randn(mu_shape, generator=generator).to(x.device)
        t = self.terms(net, x, c if self.conditional else None, eps)
        return {"nelbo": t["recon"] + t["kl"], **t}

    @torch.no_grad()
    def iw_nll(self, net, x: torch.Tensor, c: torch.Tensor | None = None, *, k: int,
               generator: torch.Generator | None = None, chunk: int = 50) -> torch.Tensor:
        """Importance-weighted estimate of -log p(x) (Burda et al. 2016), (B,) nats:
        -log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x). Equals the ELBO's
        estimate for k = 1 and tightens towards -log p(x) as k grows."""
        if k < 1:
            raise PixelsmithError(f"the importance-weighted bound needs k >= 1, got {k}")
        c = c if self.conditional else None
        mu, logvar = (t.float() for t in net.encode(x, c))  # (B, Z)
        std = torch.exp(0.5 * logvar)
        log_w = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn((m, *mu.shape), generator=generator).to(x.device)  # (m, B, Z)
            z = mu + std * eps
            flat_c = None if c is None else c.repeat(m)
            loc, log_scale = net.decode(z.flatten(0, 1), flat_c)  # (m*B, C, H, W)
            x_rep = x.repeat(m, *([1] * (x.ndim - 1)))  # (m*B, C, H, W), same order as z
            log_px = self.likelihood.log_prob(loc, log_scale, x_rep).view(m, -1)  # (m, B)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
            log_w.append(log_px + log_pz - log_qz)
        log_w = torch.cat(log_w)  # (k, B)
        return -(torch.logsumexp(log_w, 0) - math.log(k))

    # --------------------------------------------------------------- sampling
    def _labels(self, labels: torch.Tensor | None, num: int,
                generator: torch.Generator | None) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if labels is None:
            return torch.randint(self.info.num_classes, (num,), generator=generator)
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if len(labels) != num or labels.min() < 0 or labels.max() >= self.info.num_classes:
            raise PixelsmithError(f"need {num} labels in 0..{self.info.num_classes - 1}, "
                                  f"got {labels.tolist()[:10]}")
        return labels

    def sample_inputs(self, num, generator, labels=None):
        inputs = {"z": torch.randn(num, self.z_dim, generator=generator)}
        c = self._labels(labels, num, generator)
        return inputs if c is None else {**inputs, "c": c}

    @torch.no_grad()
    def sample(self, net, inputs, noise=None):
        c = inputs.get("c")
        loc, log_scale = net.decode(inputs["z"].to(self.device),
                                    None if c is None else c.to(self.device))
        return self.likelihood.mean(loc.float(), log_scale.float())

    @torch.no_grad()
    def encode(self, net, x, labels=None):
        """Posterior means: ``sample(net, encode(net, x))`` reconstructs ``x``."""
        if self.conditional and labels is None:
            raise PixelsmithError("this VAE is conditional: give the class label of each image")
        c = self._labels(labels, x.shape[0], None)
        x = x.to(self.device)
        if self.cfg.binarize == "threshold":
            x = self.prepare(x)  # dynamic: the gray image is the mean of its binarisations
        mu, _ = net.encode(x, None if c is None else c.to(self.device))
        return {"z": mu.float()} if c is None else {"z": mu.float(), "c": c}

    @torch.no_grad()
    def reconstruct(self, net, x, labels=None) -> torch.Tensor:
        """Decoder means at the posterior means of ``x``: images in [-1, 1]."""
        return self.sample(net, self.encode(net, x, labels))
