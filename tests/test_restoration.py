"""The restoration objective, exact resume with patches, the Restorer and tiling."""

import json

import pytest
import torch
import torch.nn.functional as F

from pixelsmith.config import load_config
from pixelsmith.data.degradations import make_degradation
from pixelsmith.errors import PixelsmithError
from pixelsmith.models.dncnn import DnCNN
from pixelsmith.models.srnet import SRNet
from pixelsmith.restore import load_restorer, tiled_apply
from pixelsmith.training import Trainer
from pixelsmith.training.schedule import LRSchedule

TINY = ["data.name=digits", "data.img_size=16", "data.max_images=64", "data.patch_size=8",
        "train.batch_size=8", "train.log_every=1", "train.sample_every=0",
        "train.checkpoint_every=3", "train.num_samples=4", "train.progress=false"]
MODELS = {
    "dncnn": ["model.name=dncnn", "model.depth=4", "model.width=8"],
    "unet-restorer": ["model.name=unet-restorer", "model.width=4", "model.max_width=8",
                      "model.levels=2", "model.blocks=1", "model.noise_level_input=true",
                      "objective.loss=l1"],
    "srnet": ["model.name=srnet", "model.scale=2", "model.width=8", "model.blocks=1",
              "objective.degradation={name: bicubic-down, scale: 2}"],
}


def tiny(*overrides):
    return load_config(None, [*TINY, *overrides])


@pytest.mark.parametrize("name", list(MODELS))
def test_one_training_step_per_model(name, tmp_path):
    cfg = tiny(*MODELS[name], "train.steps=1")
    trainer = Trainer(cfg, tmp_path / "run")
    before = [p.detach().clone() for p in trainer.nets["restorer"].parameters()]
    trainer.fit()
    after = list(trainer.nets["restorer"].parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    row = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1]
    assert '"restorer/loss"' in row and '"restorer/psnr"' in row
    # sample grid: 4 pictures, each degraded | restored | clean of the 16 px images
    from PIL import Image

    grid = Image.open(next((tmp_path / "run" / "samples").glob("*.png")))
    assert grid.size == (2 + 2 * (2 + 3 * 16 + 2 * 2), 2 + 2 * (2 + 16))


def test_loss_is_the_l2_of_the_restored_noisy_batch(tmp_path):
    trainer = Trainer(tiny(*MODELS["dncnn"], "train.steps=1"), tmp_path / "run")
    obj, net = trainer.objective, trainer.nets["restorer"]
    batch = trainer.batches.next()
    torch.manual_seed(5)
    loss = obj.loss(batch)
    torch.manual_seed(5)  # the same noise, computed independently
    x01 = (batch.x + 1) / 2
    y = x01 + 25 / 255 * torch.randn_like(x01)
    x_hat = net(y * 2 - 1)
    assert torch.allclose(loss["loss"], F.mse_loss(x_hat, batch.x), atol=1e-6)
    mse01 = ((x_hat.clamp(-1, 1) - batch.x) / 2).pow(2).flatten(1).mean(1).double()
    assert torch.allclose(loss["psnr"].double(), (10 * torch.log10(1 / mse01)).mean(), atol=1e-3)


def _degrade_whole_and_by_ranks(tmp_path, degradation: str, n: int, world: int):
    """One process degrading n images, and ``world`` ranks degrading their n / world each;
    every rank starts from the same seed, as under torchrun."""
    over = [*MODELS["dncnn"], f"objective.degradation={degradation}", "train.steps=1"]
    obj = Trainer(tiny(*over), tmp_path / "run").objective
    x01 = torch.rand(n, 1, 8, 8)
    torch.manual_seed(3)
    whole, known = obj.degrade(x01)
    parts, k = [], n // world
    for rank in range(world):
        obj.shard = (rank, world)
        torch.manual_seed(3)
        parts.append(obj.degrade(x01[rank * k : (rank + 1) * k]))
    return whole, known, parts


def test_ranks_degrade_their_slice_of_the_global_batch(tmp_path):
    whole, known, parts = _degrade_whole_and_by_ranks(
        tmp_path, "{name: gaussian-noise, sigma_min: 0, sigma_max: 55}", 6, 3)
    assert torch.equal(torch.cat([p[0] for p in parts]), whole)
    assert torch.equal(torch.cat([p[1]["sigma"] for p in parts]), known["sigma"])


def test_ranks_blur_their_slice_with_their_own_motion_kernels(tmp_path):
    whole, known, parts = _degrade_whole_and_by_ranks(
        tmp_path, "{name: blur, kernel: motion, length: 5, size: 7}", 4, 2)
    assert torch.equal(torch.cat([p[0] for p in parts]), whole)
    assert torch.equal(torch.cat([p[1]["kernel"] for p in parts]), known["kernel"])
    assert parts[0][1]["kernel"].shape == (2, 7, 7)


def test_resume_with_patches_is_bitwise_exact(tmp_path):
    over = [*MODELS["dncnn"], "objective.degradation={name: gaussian-noise, sigma_min: 0, "
            "sigma_max: 55}", "train.lr_schedule=step", "train.lr_milestones=[4]"]
    whole = Trainer(tiny(*over, "train.steps=6"), tmp_path / "a").fit()
    Trainer(tiny(*over, "train.steps=3"), tmp_path / "b").fit()
    resumed = Trainer.resume(tmp_path / "b", ["train.steps=6"]).fit()
    for (k, a), b in zip(whole.nets.state_dict().items(), resumed.nets.state_dict().values()):
        assert torch.equal(a, b), k
    rows_a = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    rows_b = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    strip = [r.split('"restorer/loss"')[1].split('"train/img_per_s"')[0] for r in rows_a[3:]]
    assert strip == [r.split('"restorer/loss"')[1].split('"train/img_per_s"')[0]
                     for r in rows_b[3:]]
    lrs = [json.loads(r)["restorer/lr"] for r in rows_a]
    assert lrs == pytest.approx([1e-3] * 4 + [1e-4] * 2)  # milestone 4: steps 5 and 6 lower


def test_compile_fallback_keeps_the_lr_schedule_of_an_eager_run(tmp_path):
    # a failed first compiled step is rolled back and rerun eagerly; the rate of the rerun
    # must be the one of an eager run's step (the schedule is a function of the step)
    over = [*MODELS["dncnn"], "train.lr_schedule=step", "train.lr_milestones=[2]",
            "train.steps=3"]
    eager = Trainer(tiny(*over), tmp_path / "eager").fit()
    tr = Trainer(tiny(*over), tmp_path / "fallback")
    tr._compile_check = True  # as after compile_networks: the first step is the compiled try

    def compiler_error(module, inputs):  # fails inside the step, after the loss set the lr
        handle.remove()
        raise RuntimeError("simulated compiler failure")

    handle = tr.nets["restorer"].register_forward_pre_hook(compiler_error)
    with pytest.warns(UserWarning, match="compiling the networks failed"):
        tr.fit()
    lrs = [[json.loads(r)["restorer/lr"] for r in (tmp_path / run / "metrics.jsonl")
            .read_text().splitlines()] for run in ("eager", "fallback")]
    assert lrs[0] == pytest.approx([1e-3, 1e-3, 1e-4])  # milestone 2: step 3 lower
    assert lrs[1] == lrs[0]
    for (k, a), b in zip(eager.nets.state_dict().items(), tr.nets.state_dict().values()):
        assert torch.equal(a, b), k


def test_lr_steps_down_at_milestones(tmp_path):
    cfg = tiny(*MODELS["dncnn"], "objective.lr=0.01", "train.lr_schedule=step",
               "train.lr_milestones=[10, 20]", "train.lr_gamma=0.5")
    opt = Trainer(cfg, tmp_path / "run").phases[0].optimizer
    schedule = LRSchedule(cfg.train)
    lrs = []
    for s in (0, 9, 10, 19, 20, 99):
        schedule.apply(opt, s)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]


@pytest.mark.parametrize("overrides,match", [
    (["model.name=srnet", "model.scale=3", "objective.degradation={name: bicubic-down, scale: 2}"],
     r"model.scale \(3\) must equal objective.degradation.scale \(2\)"),
    (["model.name=srnet"], "model.scale is 2.*objective.degradation.name is 'gaussian-noise'"),
    (["model.name=dncnn", "objective.degradation={name: bicubic-down, scale: 2}"],
     "use model.name: srnet"),
    (["model.name=dncnn", "objective.degradation={name: gaussian-noise, sigmaa: 3}"],
     "objective.degradation: degradation 'gaussian-noise' has no parameter 'sigmaa'"),
    (["model.name=dncnn", "objective.degradation=gaussian"],
     "'objective.degradation' must be a mapping with a 'name'"),
    (["model.name=srnet", "model.scale=3", "objective.degradation={name: bicubic-down, scale: 3}"],
     r"data.patch_size \(8\) must be a multiple of objective.degradation.scale \(3\)"),
])
def test_config_mismatches_are_one_line_errors(overrides, match, tmp_path):
    with pytest.raises(PixelsmithError, match=match) as e:
        Trainer(tiny(*overrides, "model.width=4"), tmp_path / "run")
    assert "\n" not in str(e.value)


def _random_bn(net):
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # eval-mode statistics that are not identity
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return net.eval()


def test_tiled_dncnn_equals_whole_image():
    torch.manual_seed(0)
    net = _random_bn(DnCNN(img_channels=1, depth=17, width=4))  # receptive radius 17
    y = torch.rand(1, 1, 150, 171)
    with torch.no_grad():
        whole = net(y)
        tiled = tiled_apply(net, y, tile=144, overlap=68)  # margin 68 // 4 = 17
        loose = tiled_apply(net, y, tile=64, overlap=16)
    assert (tiled - whole).abs().max() < 1e-5
    # too little overlap for exactness: still close, and no seam (a smooth blend)
    assert (loose - whole).abs().max() < 0.1


def test_tiled_sr_scales_output_coordinates():
    torch.manual_seed(0)
    net = SRNet(img_channels=3, scale=2, width=4, blocks=1).eval()  # radius ~5 input px
    y = torch.rand(1, 3, 70, 81)
    with torch.no_grad():
        whole, tiled = net(y), tiled_apply(net, y, tile=56, overlap=28, scale=2)
    assert tiled.shape == whole.shape == (1, 3, 140, 162)
    assert (tiled - whole).abs().max() < 1e-5


def test_zero_tail_srnet_starts_as_bicubic():
    torch.manual_seed(0)
    net = SRNet(img_channels=1, scale=4, width=4, blocks=1, zero_tail=True).eval()
    y = torch.rand(2, 1, 9, 7)
    bicubic = torch.nn.functional.interpolate(y, scale_factor=4, mode="bicubic",
                                              align_corners=False)
    with torch.no_grad():
        assert torch.equal(net(y), bicubic)
    assert not torch.equal(SRNet(img_channels=1, scale=4, width=4, blocks=1)(y), bicubic)


def test_tile_smaller_than_twice_overlap_is_an_error():
    with pytest.raises(PixelsmithError, match="--tile"):
        tiled_apply(lambda t: t, torch.rand(1, 1, 50, 50), tile=30, overlap=20)


def test_restorer_denoises_and_rejects_other_models(tmp_path, tiny_gan_run):
    Trainer(tiny(*MODELS["srnet"], "train.steps=1"), tmp_path / "sr").fit()
    r = load_restorer(tmp_path / "sr", device="cpu")
    assert (r.task, r.scale, r.img_channels) == ("sr", 2, 1)
    y = torch.rand(1, 13, 9)
    out = r.restore_image(y, tile=8, overlap=2)
    assert out.shape == (1, 26, 18) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(PixelsmithError, match="holds a gan model, not a restoration model"):
        load_restorer(tiny_gan_run)


def test_seeded_degradation_reproduces_the_evaluation_set():
    x = torch.rand(2, 1, 16, 16)
    deg = make_degradation("gaussian-noise", sigma=15)
    a, _ = deg(x, torch.Generator().manual_seed(0))
    b, _ = deg(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_tiled_unet_with_attention_is_close_and_has_no_seam():
    """Attention sees the whole tile, so a tiled U-Net only approximates the whole-image
    output; the blending must still leave no visible seam. Seam = a jump, from one column
    (row) to the next, in the difference to the whole-image output: cutting tiles hard
    makes one as large as the image's own detail, the blended tiles must not."""
    from pixelsmith.models.unet_restorer import UNetRestorer
    from pixelsmith.nn.layers import SelfAttention

    torch.manual_seed(0)
    net = UNetRestorer(img_channels=1, width=4, max_width=16, levels=3, blocks=1).eval()
    attn = [m for m in net.modules() if isinstance(m, SelfAttention)]
    assert len(attn) == 1
    with torch.no_grad():
        attn[0].gamma.fill_(1.0)  # it starts as the identity (gamma 0): make it count
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(128.0), indexing="ij")
    y = (0.5 + 0.3 * torch.sin(xx / 6) * torch.cos(yy / 9))[None, None]
    y = y + 0.05 * torch.randn(y.shape)
    with torch.no_grad():
        whole = net(y)
        tiled = tiled_apply(net, y, tile=48, overlap=16)  # 3 x 2 tiles
        hard = torch.cat([net(y[..., i : i + 32]) for i in range(0, 128, 32)], -1)
    err = (tiled - whole)[0, 0]
    assert err.abs().max() > 1e-5  # approximate, not exact: attention differs per tile
    assert err.abs().mean() < 0.02 * whole.std()  # but close

    def steps(e: torch.Tensor, dim: int) -> torch.Tensor:
        return e.diff(dim=dim).abs().mean(1 - dim)  # mean |jump| per column / row boundary

    detail = steps(whole[0, 0], 1).median()  # the image's own column-to-column change
    hard_steps = steps((hard - whole)[0, 0], 1)
    assert hard_steps[[31, 63, 95]].min() > 0.5 * detail  # the measure does see hard cuts
    for dim in (0, 1):
        assert steps(err, dim).max() < 0.05 * detail  # blended tiles: no seam anywhere


def test_metrics_during_training_are_refused_with_the_bench_to_use(tmp_path):
    from pixelsmith.api import make_trainer

    cfg = tiny(*MODELS["dncnn"], "train.eval_every=2")
    with pytest.raises(PixelsmithError, match="train.eval_every.*bench/restoration.py"):
        make_trainer(cfg, tmp_path / "run")
