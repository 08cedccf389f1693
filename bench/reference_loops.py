"""The yardstick for bench/train_speed.py: training loops written the way the PyTorch
examples write them (examples/dcgan, the WGAN-GP and VAE tutorials). A DataLoader over a
TensorDataset on the host, fp32, plain Adam, batches copied to the device every step, and a
``.item()`` per step for the running loss. Same networks (built by pixelsmith's model
registry from the same config), same losses, same batch size as pixelsmith's trainer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from pixelsmith.models import build_model
from pixelsmith.objectives.likelihoods import LIKELIHOODS


def endless(loader: DataLoader):
    while True:
        yield from loader


class ReferenceLoop:
    """``step()`` runs one generator step (n_critic D steps first) or one VAE step."""

    def __init__(self, cfg, images: torch.Tensor, device: torch.device, workers: int = 0):
        # images: (N, C, H, W) uint8 on the host, as a data set hands them over
        self.cfg, self.device = cfg, device
        x = images.float().div(127.5).sub(1)
        patch = cfg.data.patch_size
        if patch:  # restorers: patches cut once up front, as DnCNN reimplementations do
            g = torch.Generator().manual_seed(0)
            h, w = x.shape[-2:]
            i = torch.randint(h - patch + 1, (len(x),), generator=g)
            j = torch.randint(w - patch + 1, (len(x),), generator=g)
            x = torch.stack([im[:, a : a + patch, b : b + patch] for im, a, b in zip(x, i, j)])
        data = TensorDataset(x)
        loader = DataLoader(data, batch_size=cfg.train.batch_size, shuffle=True, drop_last=True,
                            num_workers=workers, pin_memory=device.type == "cuda",
                            persistent_workers=workers > 0)
        self.batches = endless(loader)
        self.nets = build_model(cfg.model, img_size=patch or cfg.data.img_size,
                                img_channels=cfg.data.img_channels, num_classes=0).to(device)
        o = cfg.objective
        self.family = cfg.objective.name  # gan, vae or restoration
        if self.family == "gan":
            g, d = self.nets["generator"], self.nets["discriminator"]
            self.opt_g = torch.optim.Adam(g.parameters(), lr=o.lr_g, betas=o.betas)
            self.opt_d = torch.optim.Adam(d.parameters(), lr=o.lr_d, betas=o.betas)
        elif self.family == "vae":
            self.opt = torch.optim.Adam(self.nets["vae"].parameters(), lr=o.lr, betas=o.betas)
            self.likelihood = LIKELIHOODS.get(o.likelihood)(o)
        else:  # a restorer trained on Gaussian noise (DnCNN), L2 loss
            self.opt = torch.optim.Adam(self.nets["restorer"].parameters(), lr=o.lr,
                                        betas=o.betas)
            self.sigma = float(o.degradation["sigma"]) / 255
        self.running = 0.0

    def next_batch(self) -> torch.Tensor:
        (x,) = next(self.batches)
        return x.to(self.device)

    def step(self) -> None:
        if self.family == "gan":
            self.gan_step()
        elif self.family == "vae":
            self.vae_step()
        else:
            self.restore_step()

    # ------------------------------------------------------------------ GAN
    def d_loss(self, real_logits, fake_logits):
        loss = self.cfg.objective.loss
        if loss == "hinge":
            return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        if loss == "wasserstein":
            return fake_logits.mean() - real_logits.mean()
        ones, zeros = torch.ones_like(real_logits), torch.zeros_like(fake_logits)
        return (F.binary_cross_entropy_with_logits(real_logits, ones)
                + F.binary_cross_entropy_with_logits(fake_logits, zeros))

    def g_loss(self, fake_logits):
        if self.cfg.objective.loss in ("hinge", "wasserstein"):
            return -fake_logits.mean()
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def gan_step(self) -> None:
        o = self.cfg.objective
        g, d = self.nets["generator"], self.nets["discriminator"]
        for _ in range(o.n_critic):
            real = self.next_batch()
            z = torch.randn(real.shape[0], g.z_dim, device=self.device)
            fake = g(z).detach()
            loss = self.d_loss(d(real), d(fake))
            if o.gp_weight > 0:
                eps = torch.rand(real.shape[0], 1, 1, 1, device=self.device)
                x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)
                loss = loss + o.gp_weight * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
            self.opt_d.zero_grad()
            loss.backward()
            self.opt_d.step()
            self.running += loss.item()
        z = torch.randn(real.shape[0], g.z_dim, device=self.device)
        loss = self.g_loss(d(g(z)))
        self.opt_g.zero_grad()
        loss.backward()
        self.opt_g.step()
        self.running += loss.item()

    # ------------------------------------------------------------------ VAE
    def vae_step(self) -> None:
        vae = self.nets["vae"]
        x = self.next_batch()
        mu, logvar = vae.encode(x, None)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        loc, log_scale = vae.decode(z, None)
        recon = -self.likelihood.log_prob(loc, log_scale, x)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        loss = (recon + kl).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.running += loss.item()

    # ------------------------------------------------------------ restoration
    def restore_step(self) -> None:
        x = self.next_batch()  # clean patches in [-1, 1]
        y = x + 2 * self.sigma * torch.randn_like(x)  # noise of std sigma on [0, 1] images
        loss = F.mse_loss(self.nets["restorer"](y), x)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.running += loss.item()
