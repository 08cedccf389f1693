"""The inpainting objective: fill the missing pixels of masked images.

Each batch gets fresh masks drawn on the training device from torch's global RNG (whose
state the checkpoint saves, so a resumed run draws the same masks). Phases:
- ``d``: the PatchGAN discriminator's loss (a GAN_LOSSES entry, hinge by default) on real
  images vs completed ones;
- ``g``: L1 on the hole and on the known region with separate weights (on the raw output,
  before pasting, so the known region still trains the network), the adversarial term on
  the completed image, and optionally a perceptual L1 between evaluator features.
The completed image is ``mask * y + (1 - mask) * G(y, mask)``: known pixels exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pixelsmith.data.image_files import side_by_side
from pixelsmith.data.masks import make_mask
from pixelsmith.data.transforms import from_uint8
from pixelsmith.errors import PixelsmithError
from pixelsmith.metrics.paired import psnr
from pixelsmith.objectives.base import Batch, Objective, Phase, adam
from pixelsmith.registry import GAN_LOSSES, OBJECTIVES


@dataclass
class InpaintingObjectiveConfig:
    name: str = "inpainting"
    masks: str = "center-box,free-form"  # registered mask kinds; with several, each image
    # draws one of them at random (a comma list, e.g. "center-box" or "free-form,random-boxes")
    coverage: float = 0.25  # fraction of pixels missing
    mask_file: str = ""  # the picture for the "file" mask kind (white = missing)
    hole_weight: float = 6.0  # L1 on the missing pixels (DeepFill/PConv weigh the hole up)
    valid_weight: float = 1.0  # L1 on the known pixels (raw output, before pasting)
    adv_weight: float = 0.1  # adversarial term of G; 0 = plain L1 training (no D phase)
    loss: str = "hinge"  # a registered GAN loss for D and the adversarial term
    perceptual_weight: float = 0.0  # L1 between evaluator features of filled and real; 0 = off
    perceptual_evaluator: str = ""  # folder of a trained evaluator (pixelsmith evaluator train)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)


def paste(y: torch.Tensor, out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Known pixels of ``y`` exactly, ``out`` in the hole."""
    return torch.where(mask.to(torch.bool), y, out.to(y.dtype))


def panels(x: torch.Tensor, mask: torch.Tensor, filled: torch.Tensor, *,
           gap: int = 2) -> torch.Tensor:
    """(N, C, H, 3W + 2 gap) strips: masked | inpainted | original, white between."""
    masked = torch.where(mask.to(torch.bool), x, torch.zeros_like(x))  # hole shown mid-gray
    return side_by_side([masked, filled, x], gap=gap, fill=1.0)


@OBJECTIVES.register("inpainting", config=InpaintingObjectiveConfig,
                     help="fill masked regions: L1 on hole/valid + PatchGAN adversarial")
class InpaintingObjective(Objective):
    sample_module = "generator"

    makes_images = False
    benchmark = "bench/inpainting.py"

    def __init__(self, cfg: InpaintingObjectiveConfig, nets, info, device, **kw):
        super().__init__(cfg, nets, info, device, **kw)
        for key in ("hole_weight", "valid_weight", "adv_weight", "perceptual_weight"):
            if getattr(cfg, key) < 0:
                raise PixelsmithError(f"objective.{key} must be >= 0, got {getattr(cfg, key)}")
        kinds = [k.strip() for k in cfg.masks.split(",") if k.strip()]
        if not kinds:
            raise PixelsmithError("objective.masks is empty; name a mask kind, e.g. center-box")
        self.makers = [make_mask(k, path=cfg.mask_file) if k == "file"
                       else make_mask(k, coverage=cfg.coverage) for k in kinds]
        self.loss_fn = GAN_LOSSES.get(cfg.loss)()
        self._masked_batch: tuple[Batch, torch.Tensor] | None = None
        self.features = None
        if cfg.perceptual_weight > 0:
            if not cfg.perceptual_evaluator:
                raise PixelsmithError("objective.perceptual_weight > 0 needs "
                                      "objective.perceptual_evaluator (an evaluator folder)")
            from pixelsmith.metrics.evaluator import EvaluatorFeatures

            self.features = EvaluatorFeatures(cfg.perceptual_evaluator, device).net
            self.features.requires_grad_(False)

    def phases(self) -> list[Phase]:
        g, d, cfg = self.nets["generator"], self.nets["discriminator"], self.cfg
        g_adam = adam(g.parameters(), lr=cfg.lr_g, betas=cfg.betas, device=self.device)
        if cfg.adv_weight == 0:  # plain L1: a discriminator nobody listens to is wasted time
            return [Phase("g", ("generator",), g_adam, self.g_step)]
        return [
            Phase("d", ("discriminator",),
                  adam(d.parameters(), lr=cfg.lr_d, betas=cfg.betas, device=self.device),
                  self.d_step),
            # G trains on the same real images and masks D just saw
            Phase("g", ("generator",), g_adam, self.g_step, fresh_batch=False),
        ]

    # ---------------------------------------------------------------- masks
    def masks(self, num: int, h: int, w: int, generator: torch.Generator | None = None,
              device: torch.device | None = None) -> torch.Tensor:
        """(num, 1, h, w) masks, 1 = known; with several kinds each image draws one."""
        device = self.device if generator is None else generator.device
        out = self.makers[0](num, h, w, generator=generator, device=device)
        if len(self.makers) > 1:
            pick = torch.randint(len(self.makers), (num,), generator=generator, device=device)
            for i, maker in enumerate(self.makers[1:], start=1):
                other = maker(num, h, w, generator=generator, device=device)
                out = torch.where((pick == i)[:, None, None, None], other, out)
        return out

    # --------------------------------------------------------------- phases
    def _batch_masks(self, batch: Batch) -> torch.Tensor:
        """Fresh masks for a new batch; the G phase reuses D's batch and so its masks
        (free-form strokes are many small kernels: drawing them once a step is enough)."""
        if self._masked_batch is not None and self._masked_batch[0] is batch:
            return self._masked_batch[1]
        x, n = batch.x, batch.x.shape[0]
        # this rank's slice of the masks one process draws for the global batch
        mask = self.masks(n * self.shard[1], x.shape[2], x.shape[3])[self.rank_rows(n)]
        self._masked_batch = (batch, mask)
        return mask

    def d_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        x = batch.x
        mask = self._batch_masks(batch)
        with torch.no_grad():
            filled = self.nets["generator"].inpaint(x, mask)
        d = self.nets["discriminator"]
        real_logits, fake_logits = d(x, mask), d(filled, mask)
        loss = self.loss_fn.d_loss(real_logits.float(), fake_logits.float())
        return {"loss": loss, "real_logit": real_logits.detach().float().mean(),
                "fake_logit": fake_logits.detach().float().mean()}

    def g_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        cfg, x = self.cfg, batch.x
        mask = self._batch_masks(batch)
        out = self.nets["generator"](x, mask).float()  # (B, C, H, W) raw, every pixel
        filled = paste(x, out, mask)
        hole = 1 - mask
        err = (out - x).abs()
        # means over the region's own pixels, so the weights do not depend on coverage
        l1_hole = (err * hole).sum() / (hole.sum() * x.shape[1]).clamp_min(1)
        l1_valid = (err * mask).sum() / (mask.sum() * x.shape[1]).clamp_min(1)
        loss = cfg.hole_weight * l1_hole + cfg.valid_weight * l1_valid
        logs = {"l1_hole": l1_hole.detach(), "l1_valid": l1_valid.detach()}
        if cfg.adv_weight > 0:
            adv = self.loss_fn.g_loss(self.nets["discriminator"](filled, mask).float())
            loss = loss + cfg.adv_weight * adv
            logs["adv"] = adv.detach()
        if self.features is not None:
            perc = F.l1_loss(self.features.features(filled), self.features.features(x))
            loss = loss + cfg.perceptual_weight * perc
            logs["perceptual"] = perc.detach()
        with torch.no_grad():  # PSNR of the hole on the [0, 1] scale, on the device
            logs["psnr_hole"] = psnr(filled.float(), x.float(), hole).mean().float()
        return {"loss": loss, **logs}

    # -------------------------------------------------------------- sampling
    def sample_inputs(self, num, generator, labels=None):
        raise PixelsmithError("an inpainting model fills images you give it; use "
                              "`pixelsmith restore --task inpaint --input IMG --mask MASK`")

    def grid_inputs(self, num, generator, images):
        """Fixed clean images (the data set's first) and fixed masks."""
        x = from_uint8(images[:num].cpu())
        num, _, h, w = x.shape
        return {"x": x, "mask": self.masks(num, h, w, generator=generator)}

    @torch.no_grad()
    def sample(self, net, inputs, noise=None):
        """Strips masked | inpainted | original, (N, C, H, 3W + 4), in [-1, 1]."""
        x = inputs["x"].to(self.device)
        mask = inputs["mask"].to(self.device)
        return panels(x, mask, net.inpaint(x, mask).float())
