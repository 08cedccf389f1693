"""The progressive-growing objective (Karras et al. 2018): the GAN objective with a growth
schedule. From the step it is told (``begin_step``) it derives the level of detail, the
``level`` being trained and the fade-in ``alpha`` of that level, and hands both to the
networks (models/progan.py), so the schedule resumes exactly and the trainer knows
nothing about growing.

Schedule: level 0 (s0 x s0) trains for ``stable_steps``; then each next level fades in
over ``fade_steps`` (alpha 0 -> 1) and trains ``stable_steps`` more at alpha 1; the last
level stays until the end. The paper counts 800k images per phase: with a batch of 16
that is 50,000 steps. Real images are average-pooled to the level's size and, during a
fade-in, blended with their own upsampled half-size version, as the generator's output
is. The loss is WGAN-GP (lambda 10) plus the drift term 0.001 E[D(x)^2] that keeps the
critic's scores near zero. Sample grids show the current level's images, upscaled
(nearest) to the image size; ``level`` and ``alpha`` are logged with the D phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from pixelsmith.errors import PixelsmithError
from pixelsmith.objectives.base import Batch
from pixelsmith.objectives.gan import GanObjective, GanObjectiveConfig
from pixelsmith.registry import OBJECTIVES


@dataclass
class ProGanObjectiveConfig(GanObjectiveConfig):
    name: str = "progan"
    loss: str = "wasserstein"  # WGAN-GP as in the paper
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.0, 0.99)
    gp_weight: float = 10.0
    drift_weight: float = 0.001  # epsilon_drift * E[D(x)^2] on real scores
    stable_steps: int = 1000  # steps at each level with alpha = 1 (the last: until the end)
    fade_steps: int = 1000  # steps over which each new level fades in (alpha 0 -> 1)
    # the batch at the highest levels, the image size's first: [16, 32] trains the last level
    # on 16 images, the one below on 32 (the paper lowers it at high resolution for memory);
    # levels not listed use train.batch_size. The trainer draws train.batch_size every
    # step, so this can only cut the batch below it (the rest of the draw goes unused)
    batch_per_level: list[int] = field(default_factory=list)


@OBJECTIVES.register("progan", config=ProGanObjectiveConfig,
                     help="progressive growing: WGAN-GP + drift, levels faded in by the step")
class ProGanObjective(GanObjective):
    def __init__(self, cfg: ProGanObjectiveConfig, nets, info, device, **kw):
        super().__init__(cfg, nets, info, device, **kw)
        g, d = nets["generator"], nets["discriminator"]
        if not hasattr(g, "num_levels") or getattr(d, "num_levels", None) != g.num_levels:
            raise PixelsmithError("objective 'progan' needs a growing model (model.name: "
                                  "progan)")
        self.num_levels, self.s0 = g.num_levels, g.s0
        levels = cfg.batch_per_level
        if levels and (len(levels) > self.num_levels or min(levels) < 1):
            raise PixelsmithError(
                f"objective.batch_per_level must hold at most {self.num_levels} batch sizes "
                f">= 1 (one per level, from {info.img_size} px down to {self.s0} px), got "
                f"{list(levels)}")
        self.level, self.alpha = self.level_alpha(0)

    # ------------------------------------------------------------- schedule
    def level_alpha(self, step: int) -> tuple[int, float]:
        """(level, alpha) trained at ``step``: a pure function of the step."""
        cfg, last = self.cfg, self.num_levels - 1
        if step < cfg.stable_steps:
            return 0, 1.0
        per_level = cfg.fade_steps + cfg.stable_steps
        if per_level == 0:
            return last, 1.0
        t = step - cfg.stable_steps
        level = 1 + t // per_level
        if level > last:
            return last, 1.0
        into = t % per_level
        return level, 1.0 if into >= cfg.fade_steps else into / cfg.fade_steps

    def begin_step(self, step: int, images_seen: int) -> None:
        super().begin_step(step, images_seen)
        self.level, self.alpha = self.level_alpha(step)

    def side(self) -> int:
        return self.s0 * 2**self.level

    def reals(self, x: torch.Tensor) -> torch.Tensor:
        """Real images at the current level: average-pooled to its size and, during a
        fade-in, blended with their upsampled half-size version (B, C, side, side)."""
        factor = x.shape[-1] // self.side()
        x = F.avg_pool2d(x, factor) if factor > 1 else x
        if self.level > 0 and self.alpha < 1.0:
            low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(low, x, self.alpha)
        return x

    def _cut(self, batch: Batch) -> Batch:
        from_top = self.num_levels - 1 - self.level
        if from_top >= len(self.cfg.batch_per_level):
            return batch
        n = max(1, self.cfg.batch_per_level[from_top] // self.shard[1])  # this rank's rows
        if n >= batch.x.shape[0]:
            return batch
        return Batch(x=batch.x[:n], c=None if batch.c is None else batch.c[:n])

    # ------------------------------------------------------------- networks
    def _g(self, z, c):
        return self.nets["generator"](z, self.level, self.alpha)

    def _d(self, x, c):
        return self.nets["discriminator"](x, self.level, self.alpha), None

    # ---------------------------------------------------------------- phases
    def d_step(self, batch: Batch) -> dict[str, torch.Tensor | float]:
        batch = self._cut(batch)
        out = super().d_step(Batch(x=self.reals(batch.x), c=batch.c))
        # plain numbers: logged (metrics.jsonl, TensorBoard) as d/level and d/alpha
        return {**out, "level": float(self.level), "alpha": float(self.alpha)}

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        return super().g_step(self._cut(batch))

    # -------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, net, inputs, noise=None):
        x = net(inputs["z"].to(self.device), self.level, self.alpha)  # (N, C, side, side)
        factor = self.info.img_size // x.shape[-1]
        if factor > 1:  # the current resolution, shown at the image size
            x = F.interpolate(x, scale_factor=factor, mode="nearest")
        return x.clamp(-1, 1)  # the generator's output is linear
