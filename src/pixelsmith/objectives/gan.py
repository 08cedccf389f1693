"""The GAN objective: a D phase (n_critic times) then a G phase, losses from GAN_LOSSES."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from pixelsmith.objectives.base import Batch, Objective, Phase, adam
from pixelsmith.registry import GAN_LOSSES, OBJECTIVES


@dataclass
class GanObjectiveConfig:
    family: ClassVar[str] = "gan"
    name: str = "gan"
    loss: str = "non-saturating"  # a registered GAN loss (see `pixelsmith list`)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # D steps per G step


@OBJECTIVES.register("gan", config=GanObjectiveConfig, help="adversarial training of G against D")
class GanObjective(Objective):
    sample_module = "generator"

    def __init__(self, cfg: GanObjectiveConfig, nets, info, device):
        super().__init__(cfg, nets, info, device)
        self.loss_fn = GAN_LOSSES.get(cfg.loss)()
        self.z_dim = nets["generator"].z_dim

    def phases(self) -> list[Phase]:
        g, d = self.nets["generator"], self.nets["discriminator"]
        cfg = self.cfg
        return [
            Phase("d", ("discriminator",), adam(d.parameters(), lr=cfg.lr_d, betas=cfg.betas,
                                                device=self.device),
                  self.d_step, repeats=cfg.n_critic),
            # G only needs the batch size (and labels): it reuses D's last batch
            Phase("g", ("generator",), adam(g.parameters(), lr=cfg.lr_g, betas=cfg.betas,
                                            device=self.device), self.g_step, fresh_batch=False),
        ]

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.device)

    def d_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        g, d = self.nets["generator"], self.nets["discriminator"]
        with torch.no_grad():
            fake = g(self._z(batch.x.shape[0]))
        real_logits, fake_logits = d(batch.x), d(fake)
        return {
            "loss": self.loss_fn.d_loss(real_logits.float(), fake_logits.float()),
            "real_logit": real_logits.detach().float().mean(),
            "fake_logit": fake_logits.detach().float().mean(),
        }

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        g, d = self.nets["generator"], self.nets["discriminator"]
        fake_logits = d(g(self._z(batch.x.shape[0])))
        return {"loss": self.loss_fn.g_loss(fake_logits.float())}

    def sample_inputs(self, num, generator, labels=None):
        return {"z": torch.randn(num, self.z_dim, generator=generator)}

    @torch.no_grad()
    def sample(self, net, inputs):
        return net(inputs["z"].to(self.device))
