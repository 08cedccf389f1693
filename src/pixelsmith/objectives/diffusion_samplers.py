"""Samplers of the diffusion family, registered in ``SAMPLERS``: each walks a grid of times
from noise (t = 1) to the clean image (t = 0), calling ``denoise(x, i)`` -> (x0, eps), the
network's estimate of the clean image and of the noise at grid point i. Guidance, the
prediction type and clipping live in ``denoise`` (the objective's); a sampler knows only
the grid's a(t), s(t). Grid values are host floats: the loop issues device work only, no
host synchronisation. Stochastic samplers draw their noise from ``draw()``, the rows' own
streams (``SampleNoise``), so a seed fixes their images as it does a deterministic one's.

    ddim            Song et al. 2021: x' = a' x0 + sqrt(s'^2 - v) eps + sqrt(v) z,
                    v = eta^2 s'^2 (s^2 - (a s' / a')^2) / s^2 (the DDPM posterior variance
                    times eta^2); eta = objective.eta, 0 = deterministic.
    ddpm            ancestral sampling (Ho et al. 2020): ddim with eta = 1, which is the
                    posterior q(x' | x, x0) of the chain on the grid's steps.
    euler           Euler on the probability-flow ODE: for a flow x' = x + (t' - t) u with
                    the velocity u = eps - x0; on a DDPM it is the same update as DDIM eta=0
                    (Euler in sigma = s / a).
    heun            Heun's second-order method on the same ODE (Karras et al. 2022): an Euler
                    step, then the average of the slopes at both ends; the first and the
                    last step stay Euler, so N steps (N > 1) cost 2N - 2 network calls. A
                    flow is stepped in t, a DDPM in sigma = s / a.
    dpm-solver-2m   DPM-Solver++(2M) (Lu et al. 2022): second-order multistep in
                    lambda = log(a / s) on the x0 prediction, one network call per step;
                    first order on the first and last step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pixelsmith.errors import PixelsmithError
from pixelsmith.objectives.diffusion_process import Grid
from pixelsmith.registry import SAMPLERS

Denoise = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]
Draw = Callable[[], torch.Tensor] | None


@dataclass(frozen=True)
class Sampler:
    run: Callable[..., torch.Tensor]  # (denoise, x, grid, *, eta, draw) -> x at t = 0
    nfe: Callable[[int], int]  # network evaluations for a number of steps
    stochastic: bool = False  # draws noise (needs the rows' streams)


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, a: float, s: float, a_next: float,
              s_next: float, eta: float, draw: Draw) -> torch.Tensor:
    var = 0.0
    if eta > 0 and s_next > 0:
        var = max(eta**2 * s_next**2 * (s**2 - (a * s_next / a_next) ** 2) / s**2, 0.0)
    x = a_next * x0 + math.sqrt(max(s_next**2 - var, 0.0)) * eps
    if var > 0:
        if draw is None:
            raise PixelsmithError("this sampler draws noise: pass the rows' noise streams")
        x = x + math.sqrt(var) * draw()
    return x


def _ddim(denoise: Denoise, x: torch.Tensor, grid: Grid, *, eta: float, draw: Draw):
    for i in range(grid.steps):
        x0, eps = denoise(x, i)
        x = ddim_step(x0, eps, grid.a[i], grid.s[i], grid.a[i + 1], grid.s[i + 1], eta, draw)
    return x


def _ancestral(denoise, x, grid, *, eta, draw):
    return _ddim(denoise, x, grid, eta=1.0, draw=draw)


def _euler(denoise, x, grid, *, eta, draw):
    return _ddim(denoise, x, grid, eta=0.0, draw=None)


def _heun(denoise: Denoise, x: torch.Tensor, grid: Grid, *, eta: float, draw: Draw):
    # no correction on the first step: on a DDPM it falls from sigma ~ 1 / a(1) (thousands)
    # to a few, where the slopes at its ends are not comparable and their average is far
    # worse than the Euler (= DDIM) step; nor on the last, to t = 0 (as Karras et al.)
    for i in range(grid.steps):
        a, s, a2, s2 = grid.a[i], grid.s[i], grid.a[i + 1], grid.s[i + 1]
        x0, eps = denoise(x, i)
        if grid.space == "time":  # dx/dt = eps - x0 (a flow: a = 1 - t, s = t)
            dt = grid.t[i + 1] - grid.t[i]
            slope = eps - x0
            x_next = x + dt * slope
            if 0 < i and i + 1 < grid.steps:
                x0_2, eps_2 = denoise(x_next, i + 1)
                x_next = x + dt * 0.5 * (slope + eps_2 - x0_2)
        else:  # d(x / a) / d sigma = eps, sigma = s / a
            dsigma = s2 / a2 - s / a
            x_next = a2 * (x / a + dsigma * eps)
            if 0 < i and i + 1 < grid.steps:
                _, eps_2 = denoise(x_next, i + 1)
                x_next = a2 * (x / a + dsigma * 0.5 * (eps + eps_2))
        x = x_next
    return x


def _dpm_solver_2m(denoise: Denoise, x: torch.Tensor, grid: Grid, *, eta: float, draw: Draw):
    def lam(i):  # log(a / s), +-inf at the ends of a flow
        a, s = grid.a[i], grid.s[i]
        return (math.log(a) if a > 0 else -math.inf) - (math.log(s) if s > 0 else -math.inf)

    prev_x0, h_prev = None, math.inf
    for i in range(grid.steps):
        a, s, a2, s2 = grid.a[i], grid.s[i], grid.a[i + 1], grid.s[i + 1]
        x0, _ = denoise(x, i)
        h = lam(i + 1) - lam(i)
        # e^{-h} = (a s') / (s a') without the infinities of log(0)
        exp_neg_h = a * s2 / (s * a2)
        last = s2 == 0
        if prev_x0 is None or last or not math.isfinite(h_prev) or not math.isfinite(h):
            d = x0  # first order (DDIM): the first step, the last one, a flow's t = 1
        else:
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
        x = (s2 / s) * x + a2 * (1 - exp_neg_h) * d
        prev_x0, h_prev = x0, h
    return x


SAMPLERS.register("ddim", help="DDIM (Song et al. 2021), eta = objective.eta (0: deterministic)"
                  )(Sampler(_ddim, lambda n: n, stochastic=True))
SAMPLERS.register("ddpm", help="DDPM ancestral sampling (Ho et al. 2020): DDIM with eta = 1"
                  )(Sampler(_ancestral, lambda n: n, stochastic=True))
SAMPLERS.register("euler", help="Euler on the probability-flow ODE (flow matching's sampler)"
                  )(Sampler(_euler, lambda n: n))
SAMPLERS.register("heun", help="Heun, second order (Karras et al. 2022): 2N - 2 calls"
                  )(Sampler(_heun, lambda n: 1 if n == 1 else 2 * n - 2))
SAMPLERS.register("dpm-solver-2m", help="DPM-Solver++(2M) (Lu et al. 2022), one call per step"
                  )(Sampler(_dpm_solver_2m, lambda n: n))


def steps_for_nfe(name: str, nfe: int) -> int:
    """The most steps whose network evaluations do not exceed ``nfe`` (benchmarks)."""
    sampler = SAMPLERS.get(name)
    steps = 1
    while sampler.nfe(steps + 1) <= nfe:
        steps += 1
    return steps
