"""The diffusion objective: DDPM (Ho et al. 2020; eps- or v-prediction, linear or cosine
schedule) and rectified flow / flow matching (Liu et al. 2022; Lipman et al. 2022), one
phase each through the one trainer.

    training   t ~ the process's training times, eps ~ N(0, I), x_t = a(t) x0 + s(t) eps;
               loss = mean || net(x_t, t, c) - target ||^2, target = eps, v or eps - x0
               (see diffusion_process.py); labels are replaced by the null class with
               probability ``cond_drop`` (classifier-free guidance, Ho & Salimans 2021)
    sampling   a registered sampler (diffusion_samplers.py) walks ``sample_steps`` steps
               from z ~ N(0, I) at t = 1 to t = 0; conditional models mix the conditional
               and unconditional predictions, uncond + guidance * (cond - uncond)
               (guidance 0: unconditional, 1: conditional, > 1: guided)

The EMA of the weights (``train.ema_decay``) and the learning-rate warm-up
(``train.lr_warmup_steps``) are the trainer's, as for every objective. ``encode`` inverts
deterministic DDIM (with a few fixed-point refinements per step), so ``interpolate
--between`` walks between two pictures' noises. ``inpaint`` fills masked pixels with
RePaint's resampling (Lugmayr et al. 2022), so a generator trained on whole images mends
pictures too (``pixelsmith restore --task inpaint --checkpoint RUN --mask M.png``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pixelsmith.config.schema import choice
from pixelsmith.devices import PRECISIONS, uses_bf16
from pixelsmith.errors import PixelsmithError
from pixelsmith.nn.cuda_graph import GraphedCall, graph_key
from pixelsmith.objectives.base import Batch, Objective, Phase, SampleNoise, adam
from pixelsmith.objectives.diffusion_process import (
    PREDICTIONS,
    Grid,
    make_process,
    target,
    to_x0_eps,
)
from pixelsmith.objectives.diffusion_samplers import ddim_step  # also registers the samplers
from pixelsmith.registry import OBJECTIVES, SAMPLERS


def guided(net, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None, guidance: float,
           num_classes: int) -> torch.Tensor:
    """The network's output at (x, t) with classifier-free guidance: uncond + guidance *
    (cond - uncond), the null class being ``num_classes``; W 0 and 1 cost one call."""
    if c is None:
        return net(x, t)
    null = torch.full_like(c, num_classes)
    if guidance == 1:
        return net(x, t, c)
    if guidance == 0:
        return net(x, t, null)
    both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([c, null]))  # (2B, ...)
    cond, uncond = both.float().chunk(2)
    return uncond + guidance * (cond - uncond)


@dataclass
class DiffusionObjectiveConfig:
    name: str = "diffusion"
    process: str = choice("ddpm", "ddpm", "flow",
                          help="ddpm: Gaussian diffusion chain; flow: rectified flow")
    schedule: str = choice("cosine", "cosine", "linear", help="ddpm noise schedule")
    prediction: str = choice("auto", "auto", "eps", "v", "velocity",
                             help="what the network predicts; auto: eps (ddpm), velocity (flow)")
    num_timesteps: int = 1000  # ddpm: steps T of the chain
    cond_drop: float = 0.1  # conditional models: probability a label is shown as the null class
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    # how it samples (training grids, sample, evaluate); `pixelsmith sample` overrides these
    sampler: str = "dpm-solver-2m"  # a registered sampler: ddim, ddpm, euler, heun, ...
    sample_steps: int = 25
    eta: float = 0.0  # ddim's noise (0 deterministic, 1 = ancestral)
    guidance: float = 1.0  # classifier-free guidance weight W (conditional models)
    clip_x0: bool = True  # clip the clean-image estimate to [-1, 1] while sampling
    sample_precision: str = choice(
        "fp32", *PRECISIONS, help="the denoiser's arithmetic while sampling: bf16 "
        "autocast measured 2x faster on a CPU with AVX512-BF16; auto: bf16 where native")
    cuda_graphs: bool = True  # on a GPU, replay the denoiser call from a CUDA graph
    inversion_iters: int = 4  # fixed-point refinements per step of the DDIM inversion
    inpaint_resample: int = 5  # RePaint: times each step is redone (1 = plain replacement)


@OBJECTIVES.register("diffusion", config=DiffusionObjectiveConfig,
                     help="DDPM (eps/v) or rectified flow, with fast samplers and guidance")
class DiffusionObjective(Objective):
    sample_module = "denoiser"

    def __init__(self, cfg: DiffusionObjectiveConfig, nets, info, device, **kw):
        super().__init__(cfg, nets, info, device, **kw)
        if "denoiser" not in nets:
            raise PixelsmithError(f"objective 'diffusion' needs a denoiser (model.name "
                                  f"unet-denoiser), got networks {', '.join(nets)}")
        self.process = make_process(cfg.process, cfg.schedule, cfg.num_timesteps, device)
        pred = PREDICTIONS[cfg.process][0] if cfg.prediction == "auto" else cfg.prediction
        if pred not in PREDICTIONS[cfg.process]:
            raise PixelsmithError(f"objective.prediction {pred} does not go with process "
                                  f"{cfg.process}; use one of: "
                                  f"{', '.join(PREDICTIONS[cfg.process])}")
        self.prediction = pred
        self.sampler = SAMPLERS.get(cfg.sampler)
        if cfg.sample_steps < 1:
            raise PixelsmithError(f"objective.sample_steps must be >= 1, got {cfg.sample_steps}")
        self.process.sample_times(cfg.sample_steps)  # too many steps for the chain: now
        if not 0 <= cfg.cond_drop < 1:
            raise PixelsmithError(f"objective.cond_drop must be in [0, 1), got {cfg.cond_drop}")
        if cfg.eta < 0:
            raise PixelsmithError(f"objective.eta must be >= 0, got {cfg.eta}")
        if cfg.inpaint_resample < 1:
            raise PixelsmithError(f"objective.inpaint_resample must be >= 1, "
                                  f"got {cfg.inpaint_resample}")
        if cfg.inversion_iters < 0:
            raise PixelsmithError(f"objective.inversion_iters must be >= 0, "
                                  f"got {cfg.inversion_iters}")
        self.num_classes = nets["denoiser"].num_classes  # the null class is this index
        if not self.num_classes and cfg.guidance != 1:
            raise PixelsmithError(f"objective.guidance {cfg.guidance}: guidance needs a "
                                  "conditional model (model.conditional: true)")
        self.sample_classes = self.num_classes
        self.shape = (info.img_channels, info.img_size, info.img_size)
        self._calls: dict[tuple, GraphedCall] = {}  # (net, bf16, guidance) -> its call

    # -------------------------------------------------------------- training
    def phases(self) -> list[Phase]:
        net = self.nets["denoiser"]
        opt = adam(net.parameters(), lr=self.cfg.lr, betas=self.cfg.betas, device=self.device)
        return [Phase("denoiser", ("denoiser",), opt, self.loss)]

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = a(t) x0 + s(t) eps, the forward process's sample at times t (B,)."""
        a, s = (v.view(-1, 1, 1, 1) for v in self.process.alpha_sigma_of(t))
        return a * x0 + s * eps

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        x0 = batch.x
        n = x0.shape[0]
        t = self.process.train_times(self.rand(n))  # (B,)
        eps = self.randn(n, *x0.shape[1:])  # (B, C, H, W)
        a, s = (v.view(-1, 1, 1, 1) for v in self.process.alpha_sigma_of(t))
        c = None
        if self.num_classes:
            if batch.c is None:
                raise PixelsmithError("this model is conditional but the batch has no labels")
            drop = self.rand(n) < self.cfg.cond_drop
            c = torch.where(drop, torch.full_like(batch.c, self.num_classes), batch.c)
        out = self.nets["denoiser"](a * x0 + s * eps, t, c)
        err = (out.float() - target(self.prediction, x0, eps, a, s)).pow(2).mean()
        return {"loss": err, "mse": err.detach()}

    # -------------------------------------------------------------- sampling
    def predict(self, net, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor | None,
                guidance: float) -> torch.Tensor:
        """The network's output at (x, t), guided: uncond + guidance * (cond - uncond)."""
        return guided(net, x, t, c, guidance, self.num_classes)

    def sample_bf16(self) -> bool:
        """Whether the denoiser samples under bf16 autocast (``sample_precision``; auto:
        where the device has native bf16, see ``bf16_is_fast``)."""
        return uses_bf16(self.cfg.sample_precision, self.device)

    def network_call(self, net, bf16: bool) -> GraphedCall:
        """``call(x, t, c)``: the guided network output, under bf16 autocast when ``bf16``
        (only the network runs in bf16: the sampler's steps stay in fp32). On a GPU with
        ``cuda_graphs`` it replays CUDA graphs, kept across batches and sample calls."""
        guidance, classes = self.cfg.guidance, self.num_classes
        k = (id(net), bf16, guidance)
        if k not in self._calls:
            def call(x, t, c):  # not a closure over self: the objective would never be freed
                # autocast's weight cache cannot live in a graph
                with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16,
                                    cache_enabled=False):
                    return guided(net, x, t, c, guidance, classes)

            self._calls[k] = GraphedCall(call)
            # set once: a capture that failed disables the call for good
            self._calls[k].disabled = not (self.cfg.cuda_graphs and self.sample_graphs)
        return self._calls[k]

    def denoiser(self, net, grid: Grid, c: torch.Tensor | None, *, clip: bool,
                 bf16: bool | None = None):
        """``denoise(x, i)`` -> (x0, eps) at grid point i, as the samplers call it; the
        network under bf16 autocast when ``bf16`` (None: as ``sample_precision`` says)."""
        call = self.network_call(net, self.sample_bf16() if bf16 is None else bf16)
        key = graph_key(net)  # the graphs read the weights where they are now
        eager = net.training  # dropout draws noise: a graph would replay the same

        def denoise(x: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            a, s = grid.a[i], grid.s[i]
            t = torch.full((x.shape[0],), grid.t[i], device=x.device)
            out = call(x, t, c, key=key, eager=eager).float()
            x0, eps = to_x0_eps(self.prediction, out, x, a, s)
            if clip:  # a clean image lies in [-1, 1]; eps follows from the clipped x0
                x0 = x0.clamp(-1, 1)
                eps = (x - a * x0) / s
            return x0, eps

        return denoise

    def _labels(self, labels, num: int, generator) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        if labels is None:
            return torch.randint(self.num_classes, (num,), generator=generator)
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if len(labels) != num or labels.min() < 0 or labels.max() >= self.num_classes:
            raise PixelsmithError(f"need {num} labels in 0..{self.num_classes - 1}")
        return labels

    def sample_inputs(self, num, generator, labels=None):
        z = torch.randn(num, *self.shape, generator=generator)  # the noise at t = 1
        c = self._labels(labels, num, generator)
        return {"z": z} if c is None else {"z": z, "c": c}

    @torch.no_grad()
    def sample(self, net, inputs, noise=None, *, sampler: str | None = None,
               steps: int | None = None):
        x = inputs["z"].to(self.device).float()
        c = inputs.get("c")
        c = None if c is None else c.to(self.device)
        grid = self.process.grid(steps or self.cfg.sample_steps)
        run = SAMPLERS.get(sampler) if sampler else self.sampler
        draw = None
        if noise is not None:
            shape = x.shape[1:]

            def draw():
                return noise.randn(*shape, device=x.device)

        denoise = self.denoiser(net, grid, c, clip=self.cfg.clip_x0)
        x = run.run(denoise, x, grid, eta=self.cfg.eta, draw=draw)
        return x.clamp(-1, 1)

    @torch.no_grad()
    def encode(self, net, x, labels=None):
        """The noise z from which deterministic DDIM (``sample_steps`` steps, no clipping)
        gives back ``x``: each step solved backwards by fixed-point iteration, in fp32
        whatever ``sample_precision`` says (a one-off per picture, and the walk's ends should
        reproduce the pictures as closely as the network allows)."""
        c = self._labels(labels, x.shape[0], None) if labels is not None else None
        if self.num_classes and c is None:
            c = torch.full((x.shape[0],), self.num_classes, dtype=torch.long)  # unconditional
        cd = None if c is None else c.to(self.device)
        grid = self.process.grid(self.cfg.sample_steps)
        denoise = self.denoiser(net, grid, cd, clip=False, bf16=False)
        x = x.to(self.device).float()
        for i in reversed(range(grid.steps)):  # from grid point i + 1 (cleaner) up to i
            x = self.invert_step(denoise, x, grid, i)
        return {"z": x} if c is None else {"z": x, "c": c}

    def invert_step(self, denoise, x_next: torch.Tensor, grid: Grid, i: int) -> torch.Tensor:
        """x at grid point i whose DDIM (eta = 0) step lands on ``x_next`` at point i + 1,
        by fixed-point iteration from x = x_next, in the form that contracts: a DDPM's
        x = a (x_next - s' eps) / a' + s eps (eps = eps(x)); a flow's x = x_next - dt u,
        u = eps - x0 (its eps form degenerates at t = 1, where a = 0)."""
        a, s, a2, s2 = grid.a[i], grid.s[i], grid.a[i + 1], grid.s[i + 1]
        x = x_next
        for _ in range(self.cfg.inversion_iters + 1):
            x0, eps = denoise(x, i)
            if grid.space == "time":
                x = x_next - (grid.t[i + 1] - grid.t[i]) * (eps - x0)
            else:
                x = a * (x_next - s2 * eps) / a2 + s * eps
        return x

    # ------------------------------------------------------------ inpainting
    @torch.no_grad()
    def inpaint(self, net, y: torch.Tensor, mask: torch.Tensor, noise: SampleNoise,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        """RePaint (Lugmayr et al. 2022): fill the pixels where ``mask`` (N or 1, 1, H, W)
        is 0 in ``y`` (N, C, H, W, in [-1, 1]). At each of ``sample_steps`` ancestral steps
        the known pixels are ``y`` noised to the step's level and the unknown ones the
        model's step; each step is then noised back and redone ``inpaint_resample`` times,
        so the filled region agrees with what is known around it. Known pixels of the
        result are ``y``'s, bit for bit."""
        cfg, keep = self.cfg, mask.to(y.device).bool()
        c = None
        if self.num_classes:  # unconditional unless labels are given
            c = labels if labels is not None else torch.full((y.shape[0],), self.num_classes)
            c = c.to(y.device)
        grid = self.process.grid(cfg.sample_steps)
        denoise = self.denoiser(net, grid, c, clip=cfg.clip_x0)
        shape = y.shape[1:]

        def draw():
            return noise.randn(*shape, device=y.device)

        x = draw()
        for i in range(grid.steps):
            a, s, a2, s2 = grid.a[i], grid.s[i], grid.a[i + 1], grid.s[i + 1]
            for u in range(cfg.inpaint_resample):
                x0, eps = denoise(x, i)
                unknown = ddim_step(x0, eps, a, s, a2, s2, 1.0, draw)  # ancestral
                known = a2 * y + s2 * draw() if s2 > 0 else y
                x = torch.where(keep, known, unknown)
                if u + 1 < cfg.inpaint_resample and s2 > 0:
                    # back up one step: q(x_i | x_{i+1}), x_i = r x + sqrt(s^2 - r^2 s'^2) z
                    r = a / a2
                    x = r * x + max(s**2 - (r * s2) ** 2, 0.0) ** 0.5 * draw()
        return torch.where(keep, y, x.clamp(-1, 1))
