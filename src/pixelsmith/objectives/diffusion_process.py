"""The noising processes of the diffusion family, as ``x_t = a(t) x0 + s(t) eps`` with
t in [0, 1] (t = 0 clean, t = 1 noise), and the conversions between what a network predicts
and the pair (x0, eps) every sampler works with.

    ddpm   Ho et al. 2020: a discrete Markov chain of T steps with variances beta_k;
           a = sqrt(abar_k), s = sqrt(1 - abar_k), abar_k = prod_{i <= k} (1 - beta_i),
           at the times t = k / T (k = 0 is the clean image: abar_0 = 1).
           linear: beta from 1e-4 to 0.02 (scaled by 1000 / T, so any T is the same process);
           cosine: abar(t) = f(t) / f(0), f(t) = cos^2((t + 0.008) / 1.008 * pi / 2),
           beta clipped to 0.999 (Nichol & Dhariwal 2021).
    flow   rectified flow / flow matching (Liu et al. 2022; Lipman et al. 2022):
           a = 1 - t, s = t, continuous t.

Predictions:
    eps       the noise (DDPM):              x0 = (x - s eps) / a
    v         a eps - s x0 (Salimans & Ho 2022, variance-preserving processes only):
              x0 = a x - s v,  eps = s x + a v
    velocity  dx/dt = eps - x0 of the flow:  x0 = x - s u,  eps = x + a u
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from pixelsmith.errors import PixelsmithError

PREDICTIONS = {"ddpm": ("eps", "v"), "flow": ("velocity",)}


def linear_betas(num_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02
                 ) -> torch.Tensor:
    """DDPM's linear variances (float64, (T,)); for T != 1000 scaled by 1000 / T so the
    chain reaches the same noise level (Nichol & Dhariwal 2021)."""
    scale = 1000 / num_steps
    return torch.linspace(beta_start * scale, beta_end * scale, num_steps, dtype=torch.float64)


def cosine_betas(num_steps: int, offset: float = 0.008, max_beta: float = 0.999
                 ) -> torch.Tensor:
    def f(t):
        return math.cos((t + offset) / (1 + offset) * math.pi / 2) ** 2

    betas = [min(1 - f((k + 1) / num_steps) / f(k / num_steps), max_beta)
             for k in range(num_steps)]
    return torch.tensor(betas, dtype=torch.float64)


def to_x0_eps(prediction: str, out, x, a, s):
    """The network's output ``out`` at ``x`` = a x0 + s eps -> (x0, eps)."""
    if prediction == "eps":
        return (x - s * out) / a, out
    if prediction == "v":
        return a * x - s * out, s * x + a * out
    if prediction == "velocity":
        return x - s * out, x + a * out
    raise PixelsmithError(f"unknown prediction '{prediction}'")


def target(prediction: str, x0, eps, a, s):
    """What the network learns to output for clean ``x0`` noised with ``eps``."""
    if prediction == "eps":
        return eps
    if prediction == "v":
        return a * eps - s * x0
    if prediction == "velocity":
        return eps - x0
    raise PixelsmithError(f"unknown prediction '{prediction}'")


@dataclass
class Grid:
    """The times a sampler visits, noise first, clean (t = 0, a = 1, s = 0) last; host
    floats, so a sampler's loop needs nothing back from the device."""

    t: list[float]
    a: list[float]
    s: list[float]
    space: str = "sigma"  # the ODE variable of Heun's steps: "sigma" (s / a) or "time"

    @property
    def steps(self) -> int:
        return len(self.t) - 1


class Process:
    """a(t), s(t) on the host (floats, for the samplers' grids: no device round trip) and
    on the device (for training), the times training draws and the times samplers visit."""

    kind = ""
    # the ODE variable in which the Heun sampler takes its steps (see diffusion_samplers)
    ode_space = "sigma"

    def alpha_sigma(self, t: float) -> tuple[float, float]:
        raise NotImplementedError

    def alpha_sigma_of(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def train_times(self, u: torch.Tensor) -> torch.Tensor:
        """Uniform u in [0, 1) -> training times (B,)."""
        raise NotImplementedError

    def sample_times(self, steps: int) -> list[float]:
        """steps + 1 decreasing times from 1 (noise) to 0 (clean)."""
        raise NotImplementedError

    def grid(self, steps: int) -> Grid:
        times = self.sample_times(steps)
        a, s = zip(*(self.alpha_sigma(t) for t in times))
        return Grid(times, list(a), list(s), self.ode_space)


class DDPMProcess(Process):
    kind = "ddpm"

    def __init__(self, schedule: str, num_steps: int, device: torch.device | str = "cpu"):
        if num_steps < 1:
            raise PixelsmithError(f"objective.num_timesteps must be >= 1, got {num_steps}")
        if schedule == "linear":
            betas = linear_betas(num_steps)
        elif schedule == "cosine":
            betas = cosine_betas(num_steps)
        else:
            raise PixelsmithError(f"objective.schedule must be linear or cosine, got {schedule}")
        if not (0 < betas).all() or not (betas < 1).all():
            raise PixelsmithError(f"objective.num_timesteps {num_steps} is too small for the "
                                  f"{schedule} schedule (a variance beta reaches 1)")
        self.num_steps, self.betas = num_steps, betas
        abar = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])
        self.abar = abar  # (T + 1,) float64, abar[0] = 1: the clean image
        self._a = abar.sqrt().float().to(device)
        self._s = (1 - abar).sqrt().float().to(device)

    def index(self, t: float) -> int:
        return round(t * self.num_steps)

    def alpha_sigma(self, t):
        ab = float(self.abar[self.index(t)])
        return math.sqrt(ab), math.sqrt(1 - ab)

    def alpha_sigma_of(self, t):
        k = (t * self.num_steps).round().long()
        return self._a[k], self._s[k]

    def train_times(self, u):
        k = (u * self.num_steps).long().clamp(0, self.num_steps - 1) + 1  # 1..T
        return k.float() / self.num_steps

    def sample_times(self, steps):
        if not 1 <= steps <= self.num_steps:
            raise PixelsmithError(f"sampling steps must be in 1..{self.num_steps} (the "
                                  f"chain's objective.num_timesteps), got {steps}")
        # evenly spaced steps of the chain, the last one (k = T) included ("trailing")
        ks = [round(self.num_steps * (steps - i) / steps) for i in range(steps + 1)]
        return [k / self.num_steps for k in ks]


class FlowProcess(Process):
    kind = "flow"
    ode_space = "time"

    def alpha_sigma(self, t):
        return 1.0 - t, t

    def alpha_sigma_of(self, t):
        return 1 - t, t

    def train_times(self, u):
        return u

    def sample_times(self, steps):
        if steps < 1:
            raise PixelsmithError(f"sampling steps must be >= 1, got {steps}")
        return [(steps - i) / steps for i in range(steps + 1)]


def make_process(kind: str, schedule: str, num_steps: int,
                 device: torch.device | str = "cpu") -> Process:
    if kind == "ddpm":
        return DDPMProcess(schedule, num_steps, device)
    if kind == "flow":
        return FlowProcess()
    raise PixelsmithError(f"objective.process must be ddpm or flow, got {kind}")
