"""Progressive growing (models/progan.py, objectives/progan.py, nn/progressive.py): the
layers against their formulas, the fade-in's continuity, the schedule, the real images at
each level, and a resume in the middle of a fade-in bitwise equal to the straight run."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from pixelsmith.config import load_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import generate, load_model
from pixelsmith.models.progan import Discriminator, Generator
from pixelsmith.nn.progressive import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
)
from pixelsmith.objectives import Batch
from pixelsmith.training import Trainer
from pixelsmith.training.checkpoint import load_checkpoint

# 16 px: levels 4, 8, 16; level 1 fades in over steps 2-5, level 2 over steps 8-11
TINY = ["model.name=progan", "data.name=digits", "data.img_size=16", "data.max_images=32",
        "model.z_dim=8", "model.g_width=4", "model.d_width=4", "model.max_width=8",
        "objective.stable_steps=2", "objective.fade_steps=4", "train.batch_size=4",
        "train.device=cpu", "train.precision=fp32", "train.log_every=1",
        "train.sample_every=0", "train.checkpoint_every=0", "train.num_samples=4",
        "train.progress=false", "train.ema_decay=0.9", "train.ema_start=1"]


def tiny(*over):
    return load_config(None, [*TINY, *over])


def nets(size=16, channels=1):
    torch.manual_seed(0)
    g = Generator(z_dim=8, img_size=size, img_channels=channels, width=4, max_width=8)
    d = Discriminator(img_size=size, img_channels=channels, width=4, max_width=8)
    return g, d


# ------------------------------------------------------------------------- layers
def test_equalized_layers_store_unit_weights_and_scale_them_at_run_time():
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 8, 3)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(16 * 9))  # He: sqrt(2/fan_in)
    assert abs(conv.weight.std().item() - 1) < 0.1 and torch.all(conv.bias == 0)
    x = torch.randn(2, 16, 5, 5)
    want = F.conv2d(x, conv.weight * math.sqrt(2 / 144), conv.bias, padding=1)
    assert torch.allclose(conv(x), want, atol=1e-6)
    lin = EqualizedLinear(50, 3, gain=1.0)
    assert lin.scale == pytest.approx(1 / math.sqrt(50))
    v = torch.randn(4, 50)
    assert torch.allclose(lin(v), v @ (lin.weight / math.sqrt(50)).T + lin.bias, atol=1e-6)
    # the scale is applied in the forward pass, so it also scales the gradient of the
    # stored weight: d out / d w = scale * x
    lin(v).sum().backward()
    assert torch.allclose(lin.weight.grad, (v.sum(0) / math.sqrt(50)).expand(3, 50), atol=1e-5)


def test_pixel_norm_gives_every_pixel_unit_rms_over_channels():
    x = torch.randn(3, 6, 4, 4) * 5
    y = PixelNorm()(x)
    assert torch.allclose(y.pow(2).mean(dim=1), torch.ones(3, 4, 4), atol=1e-5)
    assert torch.allclose(y * x.pow(2).mean(1, keepdim=True).sqrt(), x, atol=1e-4)


def test_minibatch_stddev_on_a_hand_batch():
    # 4 samples, 2 features, 1x1; group size 2 -> groups {0, 2} and {1, 3} (i mod 2)
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [5.0, 6.0]]).view(4, 2, 1, 1)
    y = MinibatchStdDev(group_size=2)(x)
    assert y.shape == (4, 3, 1, 1) and torch.equal(y[:, :2], x)
    # group {0, 2}: population stds of (0, 2) and (0, 4) = 1 and 2 -> 1.5;
    # group {1, 3}: stds of (1, 5) and (2, 6) = 2 and 2 -> 2
    assert torch.allclose(y[:, 2].flatten(), torch.tensor([1.5, 2.0, 1.5, 2.0]), atol=1e-6)
    # the map is constant over the pixels; 6 samples with group 4 use groups of 3
    z = torch.randn(6, 2, 3, 3)
    out = MinibatchStdDev(group_size=4)(z)[:, 2]
    for i in range(6):  # sample i is in group i mod 2: the samples i, i +- 2, i +- 4
        group = z[i % 2 :: 2]
        want = group.std(dim=0, unbiased=False).mean()
        assert torch.allclose(out[i], want.expand(3, 3), atol=1e-5)


# ---------------------------------------------------------------------- networks
def test_generator_fade_in_starts_exactly_at_the_previous_level_upsampled():
    g, _ = nets()
    z = torch.randn(3, 8)
    for level in (1, 2):
        prev = g(z, level - 1, 1.0)
        start = g(z, level, 0.0)
        assert start.shape[-1] == 2 * prev.shape[-1]
        assert torch.equal(start, F.interpolate(prev, scale_factor=2, mode="nearest"))
        end = g(z, level, 1.0)
        assert not torch.allclose(end, start)  # the new level does change the picture
        assert torch.allclose(g(z, level, 0.25), torch.lerp(start, end, 0.25), atol=1e-6)
    assert g(z).shape == (3, 1, 16, 16)  # no level given: the image size


def test_discriminator_fade_in_starts_exactly_at_the_previous_level():
    _, d = nets()
    x = torch.randn(4, 1, 16, 16)
    for level in (1, 2):
        side = 4 * 2**level
        xl = F.avg_pool2d(x, 16 // side)
        assert torch.equal(d(xl, level, 0.0), d(F.avg_pool2d(xl, 2), level - 1, 1.0))
    with pytest.raises(PixelsmithError, match="level 1 takes 8x8 images"):
        d(x, 1, 1.0)


def test_sizes_that_start_at_7_grow_from_7x7():
    g, d = nets(size=28)
    assert g.num_levels == 3 and g(torch.randn(2, 8), 0).shape == (2, 1, 7, 7)
    assert d(torch.randn(2, 1, 14, 14), 1, 0.5).shape == (2,)


# --------------------------------------------------------------------- objective
def test_schedule_stable_then_fade_per_level_as_a_function_of_the_step(tmp_path):
    obj = Trainer(tiny(), tmp_path / "run").objective
    got = [obj.level_alpha(s) for s in range(15)]
    assert got == [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1.0),
                   (1, 1.0), (2, 0.0), (2, 0.25), (2, 0.5), (2, 0.75), (2, 1.0), (2, 1.0),
                   (2, 1.0)]
    assert obj.level_alpha(10**6) == (2, 1.0)  # the last level stays


def test_real_images_are_pooled_to_the_level_and_blended_during_the_fade(tmp_path):
    obj = Trainer(tiny(), tmp_path / "run").objective
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    obj.begin_step(0, 0)
    assert torch.allclose(obj.reals(x), F.interpolate(x, size=4, mode="area"), atol=1e-6)
    obj.begin_step(3, 0)  # level 1, alpha 0.25
    x8, x4 = F.interpolate(x, size=8, mode="area"), F.interpolate(x, size=4, mode="area")
    want = 0.75 * F.interpolate(x4, size=8, mode="nearest") + 0.25 * x8
    assert torch.allclose(obj.reals(x), want, atol=1e-6)


def test_batch_per_level_cuts_the_batch_and_checks_its_length(tmp_path):
    # the image size (level 2) on 2 images, level 1 on 3, level 0 on the whole batch
    trainer = Trainer(tiny("objective.batch_per_level=[2, 3]"), tmp_path / "run")
    seen = []
    trainer.nets["discriminator"].register_forward_hook(lambda m, i, o: seen.append(len(i[0])))
    for step, rows in ((0, 4), (3, 3), (9, 2)):
        seen.clear()
        trainer.objective.begin_step(step, 0)
        trainer.objective.d_step(Batch(x=torch.rand(4, 1, 16, 16)))
        trainer.objective.g_step(Batch(x=torch.rand(4, 1, 16, 16)))
        assert seen and set(seen) == {rows}  # reals, fakes, penalty mixes, G's fakes
    with pytest.raises(PixelsmithError, match="batch_per_level must hold at most 3 batch"):
        Trainer(tiny("objective.batch_per_level=[2, 4, 4, 4]"), tmp_path / "bad")


def test_progan_objective_needs_a_growing_model(tmp_path):
    with pytest.raises(PixelsmithError, match="needs a growing model"):
        Trainer(tiny("model.name=dcgan", "objective.name=progan", "model.max_width=8"),
                tmp_path / "run")


def test_resume_in_the_middle_of_a_fade_in_is_bitwise_the_straight_run(tmp_path):
    straight = Trainer(tiny("train.steps=7"), tmp_path / "a").fit()
    Trainer(tiny("train.steps=4"), tmp_path / "b").fit()  # stops at level 1, alpha 0.5
    assert load_checkpoint(tmp_path / "b").meta["step"] == 4
    resumed = Trainer.resume(tmp_path / "b", ["train.steps=7"]).fit()
    for (k, a), b in zip(straight.nets.state_dict().items(), resumed.nets.state_dict().values()):
        assert torch.equal(a, b), k
    for (k, a), b in zip(straight.ema.net.state_dict().items(),
                         resumed.ema.net.state_dict().values()):
        assert torch.equal(a, b), f"ema {k}"
    sa = load_checkpoint(tmp_path / "a").train_state()["optimizers"]
    sb = load_checkpoint(tmp_path / "b").train_state()["optimizers"]
    for phase in ("d", "g"):
        assert sa[phase]["state"].keys() == sb[phase]["state"].keys()
        for pid, st in sa[phase]["state"].items():
            assert torch.equal(st["exp_avg_sq"], sb[phase]["state"][pid]["exp_avg_sq"])
    # level and alpha of each step in metrics.jsonl (row `step` s: the step index s - 1)
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text()
            .splitlines()]
    assert [(r["d/level"], r["d/alpha"]) for r in rows] == [
        (0, 1), (0, 1), (1, 0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1)]
    # a loaded checkpoint samples at the level it was trained at, shown at the image size
    loaded = load_model(tmp_path / "b", device="cpu")
    assert (loaded.objective.level, loaded.objective.alpha) == (1, 1.0)
    images = generate(loaded, 3, seed=1)
    assert images.shape == (3, 1, 16, 16) and images.abs().max() <= 1
    assert torch.equal(images[..., ::2, ::2], images[..., 1::2, 1::2])  # 8 px, upscaled x2
