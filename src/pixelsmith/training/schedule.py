"""The learning-rate schedule: one factor per step, applied by the trainer to every phase's
optimizer before the step runs (``lr = initial_lr * factor(step)``).

Objectives set each optimizer's initial learning rate and nothing else; the factor is a
pure function of the step and ``train.*``, and every param group's ``initial_lr`` travels
in the optimizer state of the checkpoint, so a resumed run sets exactly the rates the
straight run set.

    constant  1
    step      lr_gamma ** (number of lr_milestones <= step)        (DnCNN, EDSR)
    cosine    lr_min_ratio + (1 - lr_min_ratio) * (1 + cos(pi * t)) / 2,
              t = (step - warmup) / (train.steps - warmup), clipped to [0, 1]
    warm-up   for step < lr_warmup_steps the factor is (step + 1) / lr_warmup_steps times
              the schedule's own (any schedule)
"""

from __future__ import annotations

import math

import torch

from pixelsmith.config.schema import TrainConfig
from pixelsmith.errors import PixelsmithError


class LRSchedule:
    def __init__(self, t: TrainConfig):
        self.kind, self.steps, self.warmup = t.lr_schedule, t.steps, t.lr_warmup_steps
        self.milestones, self.gamma, self.min_ratio = list(t.lr_milestones), t.lr_gamma, \
            t.lr_min_ratio
        if self.warmup < 0:
            raise PixelsmithError(f"train.lr_warmup_steps must be >= 0, got {self.warmup}")
        if self.kind == "step":
            if not self.milestones or any(m < 1 for m in self.milestones):
                raise PixelsmithError("train.lr_schedule: step needs train.lr_milestones, steps "
                                      f">= 1 (e.g. [40000]); got {self.milestones}")
            if self.gamma <= 0:
                raise PixelsmithError(f"train.lr_gamma must be > 0, got {self.gamma}")
        elif self.milestones:  # a milestone that would silently do nothing
            raise PixelsmithError(f"train.lr_milestones is set but train.lr_schedule is "
                                  f"'{self.kind}'; set train.lr_schedule: step")
        if not 0 <= self.min_ratio <= 1:
            raise PixelsmithError(f"train.lr_min_ratio must be in [0, 1], got {self.min_ratio}")

    @property
    def active(self) -> bool:
        """False when every factor is 1 (the trainer then logs no rate; it still sets each
        group's rate to its initial one, so a resumed run starts from the config's)."""
        return self.kind != "constant" or self.warmup > 0

    def factor(self, step: int) -> float:
        """The factor for the step about to run (``step`` optimisation steps done)."""
        if self.kind == "step":
            f = self.gamma ** sum(step >= m for m in self.milestones)
        elif self.kind == "cosine":
            span = max(self.steps - self.warmup, 1)
            t = min(max((step - self.warmup) / span, 0.0), 1.0)
            f = self.min_ratio + (1 - self.min_ratio) * (1 + math.cos(math.pi * t)) / 2
        else:
            f = 1.0
        if step < self.warmup:
            f *= (step + 1) / self.warmup
        return f

    @staticmethod
    def remember_initial(optimizer: torch.optim.Optimizer) -> None:
        """Keep each group's starting rate as ``initial_lr`` (saved with the optimizer)."""
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        f = self.factor(step)
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * f
