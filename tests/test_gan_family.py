"""GAN family: regularisers, the ResNet/SNGAN model, conditioning, DiffAugment."""

import pytest
import torch
from torch import nn

import pixelsmith.components  # noqa: F401
from helpers import tiny_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.models import build_model
from pixelsmith.models.resnet import ResNetGANConfig
from pixelsmith.objectives.diffaugment import parse_policy
from pixelsmith.objectives.regularizers import gradient_penalty, r1_penalty
from pixelsmith.training import Trainer


def test_gradient_penalty_of_a_linear_critic_is_analytic():
    # D(x) = <w, x>: the gradient is w everywhere, so the penalty is (||w|| - 1)^2
    w = torch.randn(2, 4, 4)
    real, fake = torch.randn(5, 2, 4, 4), torch.randn(5, 2, 4, 4)
    gp = gradient_penalty(lambda x: (x * w).sum(dim=(1, 2, 3)), real, fake)
    assert torch.allclose(gp, (w.norm() - 1) ** 2, rtol=1e-5)


def test_gradient_penalty_matches_per_sample_autograd():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 1))
    real, fake, eps = torch.randn(4, 1, 6, 6), torch.randn(4, 1, 6, 6), torch.rand(4)
    gp = gradient_penalty(lambda x: critic(x).squeeze(1), real, fake, eps)
    want = []
    for i in range(4):  # one sample at a time, its own graph
        x = (eps[i] * real[i : i + 1] + (1 - eps[i]) * fake[i : i + 1]).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x)
        want.append((g.norm() - 1) ** 2)
    assert torch.allclose(gp, torch.stack(want).mean(), rtol=1e-5)
    gp.backward()  # differentiable w.r.t. the critic's weights (double backward)
    assert critic[0].weight.grad is not None and critic[0].weight.grad.abs().sum() > 0


def test_r1_penalty_of_a_quadratic_critic():
    # D(x) = sum x^2 / 2: the gradient is x, so R1 = mean ||x||^2
    x = torch.randn(3, 1, 4, 4).requires_grad_(True)
    r1 = r1_penalty((x**2).sum(dim=(1, 2, 3)) / 2, x)
    assert torch.allclose(r1, x.detach().flatten(1).pow(2).sum(1).mean())


def test_weight_clipping_applies_after_each_d_step(tmp_path):
    trainer = Trainer(tiny_config("train.steps=2", "objective.loss=wasserstein",
                                  "objective.clip_weight=0.01"), tmp_path / "run")
    trainer.fit()
    d = trainer.nets["discriminator"]
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01 + 1e-7
    assert trainer.nets["generator"].project.weight.abs().max() > 0.01  # G is not clipped


def test_spectral_norm_layers_have_unit_largest_singular_value():
    torch.manual_seed(0)
    nets = build_model(ResNetGANConfig(g_width=8, d_width=8), img_size=16, img_channels=3)
    d = nets["discriminator"]
    x = torch.randn(4, 3, 16, 16)
    for _ in range(30):  # each training-mode forward runs one power iteration
        d(x)
    d.eval()
    layers = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert len(layers) >= 5
    for m in layers:
        w = m.weight.flatten(1)  # conv (out, in, k, k) -> (out, in*k*k)
        assert torch.linalg.svdvals(w)[0].item() == pytest.approx(1.0, abs=0.02)
        raw = m.parametrizations.weight.original.flatten(1)
        assert torch.linalg.svdvals(raw)[0].item() != pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("g_cond, d_cond", [("none", "none"), ("embed", "concat"),
                                            ("cbn", "projection"), ("cbn", "acgan")])
@pytest.mark.parametrize("img_size", [16, 28, 32])
def test_resnet_shapes(g_cond, d_cond, img_size):
    cfg = ResNetGANConfig(z_dim=6, g_width=8, d_width=8, g_cond=g_cond, d_cond=d_cond,
                          embed_dim=4, attention=8 if img_size != 28 else 0)
    nets = build_model(cfg, img_size=img_size, img_channels=3, num_classes=5)
    c = torch.tensor([0, 4, 2])
    x = nets["generator"](torch.randn(3, 6), c)
    assert x.shape == (3, 3, img_size, img_size) and x.abs().max() <= 1
    out = nets["discriminator"](x, c)
    if d_cond == "acgan":
        assert out[0].shape == (3,) and out[1].shape == (3, 5)
    else:
        assert out.shape == (3,)


def test_self_attention_is_built_at_the_chosen_resolution():
    nets = build_model(ResNetGANConfig(g_width=8, d_width=8, attention=16), img_size=32,
                       img_channels=1)
    assert nets["generator"].attn is not None and nets["discriminator"].attn is not None
    assert nets["generator"].attn_after == 1  # 4 -> 8 -> 16: after the second up-block


def test_conditional_model_needs_labels():
    with pytest.raises(PixelsmithError, match="model.g_cond needs a labelled data set"):
        build_model(ResNetGANConfig(g_cond="cbn"), img_size=16, img_channels=1)


RESNET = ["model.name=resnet", "model.g_width=8", "model.d_width=8", "model.embed_dim=4"]


def test_conditional_samples_have_requested_labels_and_repeat_per_seed(tmp_path):
    trainer = Trainer(tiny_config(*RESNET, "model.g_cond=cbn", "model.d_cond=projection",
                                  "objective.loss=hinge", "train.steps=1"), tmp_path / "r")
    trainer.fit()
    obj, g = trainer.objective, trainer.sampling_net().eval()
    labels = torch.tensor([3, 3, 7, 0])
    a = obj.sample_inputs(4, torch.Generator().manual_seed(5), labels)
    b = obj.sample_inputs(4, torch.Generator().manual_seed(5), labels)
    assert torch.equal(a["c"], labels) and a["c"].shape == (4,)
    xa, xb = obj.sample(g, a), obj.sample(g, b)
    assert xa.shape == (4, 1, 16, 16) and torch.equal(xa, xb)
    other = obj.sample(g, {"z": a["z"], "c": torch.tensor([1, 1, 1, 1])})
    assert not torch.equal(xa, other)  # the label changes the image
    assert obj.sample_inputs(10, torch.Generator(), None)["c"].shape == (10,)
    with pytest.raises(PixelsmithError, match="class labels must be in 0..9"):
        obj.sample_inputs(1, torch.Generator(), torch.tensor([10]))
    # the training grid has one row per class
    assert torch.equal(trainer.fixed_inputs["c"][:12], torch.arange(12) % 10)


@pytest.mark.parametrize("extra", [
    ["objective.loss=wasserstein", "objective.gp_weight=10", "objective.n_critic=2"],
    ["objective.loss=least-squares", "objective.r1_weight=1"],
    ["model.d_cond=acgan", "model.g_cond=embed", "objective.diffaugment=color,translation,cutout"],
    ["model.d_cond=concat", "model.g_cond=cbn", "model.attention=8"],
])
def test_gan_variants_train_and_log_their_terms(tmp_path, extra):
    trainer = Trainer(tiny_config(*RESNET, "train.steps=1", "train.checkpoint_every=0",
                                  "train.sample_every=0", *extra),
                      tmp_path / "r")
    trainer.fit()
    import json

    row = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])
    assert all(v == v for v in row.values())  # finite (NaN != NaN)
    if "objective.gp_weight=10" in extra:
        assert "d/gp" in row
    if "objective.r1_weight=1" in extra:
        assert "d/r1" in row
    if "model.d_cond=acgan" in extra:
        assert "d/aux" in row and "g/aux" in row


def test_diffaugment_is_seeded_by_the_global_rng_and_differentiable():
    aug = parse_policy("color,translation,cutout")
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    torch.manual_seed(1)
    a = aug(x)
    torch.manual_seed(1)
    b = aug(x)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    xg = x.clone().requires_grad_(True)
    aug(xg).sum().backward()
    assert xg.grad is not None
    assert parse_policy("")(x) is x
    with pytest.raises(PixelsmithError, match="objective.diffaugment: unknown op 'flip'"):
        parse_policy("color,flip")


def test_translation_and_cutout_move_and_zero_pixels():
    from pixelsmith.objectives.diffaugment import cutout, translation

    x = torch.ones(8, 1, 8, 8)
    torch.manual_seed(0)
    cut = cutout(x)
    assert ((cut == 0).flatten(1).sum(1) == 16).all()  # a 4x4 hole in every image
    moved = translation(torch.arange(64.0).view(1, 1, 8, 8).expand(16, 1, 8, 8))
    assert set(moved.unique().tolist()) <= set(range(64))  # pixels move or become 0


def test_resume_is_exact_with_diffaugment_and_gp(tmp_path):
    extra = ["objective.diffaugment=color,translation,cutout", "objective.gp_weight=1",
             "train.sample_every=0", "train.checkpoint_every=0"]
    Trainer(tiny_config("train.steps=2", *extra), tmp_path / "a").fit()
    Trainer(tiny_config("train.steps=1", *extra), tmp_path / "b").fit()
    Trainer.resume(tmp_path / "b", ["train.steps=2"]).fit()
    from pixelsmith.training.checkpoint import load_checkpoint

    ma, mb = load_checkpoint(tmp_path / "a").model, load_checkpoint(tmp_path / "b").model
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
