"""The diffusion family: the processes against their definitions, the samplers against an
exact solution, guidance, DDIM inversion, seeded sampling, training through the one trainer
with exact resume, and the command line."""

import json
import math
from pathlib import Path

import pytest
import torch

from pixelsmith.config import load_config
from pixelsmith.data.base import DataInfo
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import generate, load_model
from pixelsmith.models import build_model
from pixelsmith.objectives import SampleNoise
from pixelsmith.objectives.diffusion import DiffusionObjective, DiffusionObjectiveConfig
from pixelsmith.objectives.diffusion_process import (
    DDPMProcess,
    FlowProcess,
    cosine_betas,
    linear_betas,
    target,
    to_x0_eps,
)
from pixelsmith.objectives.diffusion_samplers import ddim_step
from pixelsmith.registry import MODELS, SAMPLERS
from pixelsmith.training import Trainer
from pixelsmith.training.checkpoint import load_checkpoint

CONFIGS = Path(__file__).parents[1] / "configs" / "diffusion"
TINY = [
    "model.name=unet-denoiser", "model.width=8", "model.max_width=8", "model.levels=2",
    "model.blocks=1", "model.dropout=0", "data.name=digits", "data.img_size=8",
    "data.max_images=32", "train.batch_size=8", "train.device=cpu", "train.precision=fp32",
    "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=0",
    "train.num_samples=4", "train.progress=false", "objective.sample_steps=4",
]


def tiny_objective(*, num_classes: int = 0, seed: int = 0, **cfg) -> DiffusionObjective:
    """A randomly initialised tiny denoiser (8 px gray) and its objective, on the CPU."""
    torch.manual_seed(seed)
    model_cfg = MODELS.entry("unet-denoiser").config(
        width=8, max_width=8, levels=2, blocks=1, dropout=0.0, conditional=num_classes > 0)
    nets = build_model(model_cfg, img_size=8, img_channels=1, num_classes=num_classes)
    obj = DiffusionObjective(DiffusionObjectiveConfig(**cfg), nets.eval(),
                             DataInfo(8, 1, num_classes), torch.device("cpu"))
    return obj


# ------------------------------------------------------------------- processes
def test_closed_form_marginals_match_the_markov_chain_step_by_step():
    # x_k = sqrt(1 - beta_k) x_{k-1} + sqrt(beta_k) n_k, simulated, against a(t), s(t)
    gen = torch.Generator().manual_seed(0)
    for schedule in ("linear", "cosine"):
        proc = DDPMProcess(schedule, 50)
        x0 = torch.tensor([0.7, -0.3, 0.0], dtype=torch.float64)
        x = x0.expand(100_000, 3).clone()  # the mean's standard error: s / 316
        for k in range(1, 51):
            beta = float(proc.betas[k - 1])
            x = math.sqrt(1 - beta) * x + math.sqrt(beta) * torch.randn(x.shape, generator=gen,
                                                                          dtype=torch.float64)
            if k in (1, 10, 25, 50):
                a, s = proc.alpha_sigma(k / 50)
                assert torch.allclose(x.mean(0), a * x0, atol=6 * s / 316), (schedule, k)
                assert torch.allclose(x.var(0), torch.full((3,), s**2, dtype=torch.float64),
                                      rtol=2e-2, atol=1e-4), (schedule, k)


def test_the_objectives_noisy_sample_has_the_closed_form_mean_and_variance():
    obj = tiny_objective(process="ddpm", schedule="linear")
    torch.manual_seed(1)
    x0 = torch.rand(1, 1, 8, 8) * 2 - 1
    for k in (1, 300, 999):
        t = torch.full((20_000,), k / 1000)
        xt = obj.noisy(x0.expand(20_000, -1, -1, -1), t, torch.randn(20_000, 1, 8, 8))
        abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)[k - 1]
        assert torch.allclose(xt.mean(0), abar.sqrt().float() * x0[0], atol=0.03)
        assert torch.allclose(xt.var(0).mean(), (1 - abar).float(), rtol=0.03, atol=1e-4)


def test_schedule_end_points():
    lin = linear_betas(1000)
    assert lin[0].item() == pytest.approx(1e-4) and lin[-1].item() == pytest.approx(0.02)
    assert linear_betas(250)[-1].item() == pytest.approx(0.08)  # T != 1000: same process
    cos = cosine_betas(1000)
    assert cos.max().item() <= 0.999 and cos.min().item() > 0
    for schedule in ("linear", "cosine"):
        proc = DDPMProcess(schedule, 1000)
        assert proc.alpha_sigma(0.0) == (1.0, 0.0)
        a1, s1 = proc.alpha_sigma(1.0)
        assert 0 < a1 < 1e-2 and s1 == pytest.approx(1.0, abs=1e-4)
        grid = proc.grid(10)
        assert grid.t[0] == 1.0 and grid.t[-1] == 0.0 and (grid.a[-1], grid.s[-1]) == (1, 0)
        assert all(u > v for u, v in zip(grid.t, grid.t[1:]))
    assert FlowProcess().alpha_sigma(0.0) == (1.0, 0.0)
    assert FlowProcess().alpha_sigma(1.0) == (0.0, 1.0)
    with pytest.raises(PixelsmithError, match="1..1000"):
        DDPMProcess("cosine", 1000).sample_times(1001)


@pytest.mark.parametrize("prediction", ["eps", "v", "velocity"])
def test_prediction_conversions_round_trip(prediction):
    gen = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(2, 5, 4, 4, generator=gen).unbind(0)
    t = torch.rand(5, 1, 1, 1, generator=gen) * 0.98 + 0.01
    if prediction == "velocity":
        a, s = 1 - t, t
    else:  # variance preserving
        a, s = torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)
    x = a * x0 + s * eps
    got_x0, got_eps = to_x0_eps(prediction, target(prediction, x0, eps, a, s), x, a, s)
    assert torch.allclose(got_x0, x0, atol=1e-5) and torch.allclose(got_eps, eps, atol=1e-5)


# -------------------------------------------------------------------- samplers
def _gaussian_denoiser(grid, mu, sd):
    """The exact E[x0 | x_t] when the data are N(mu, sd^2): the probability-flow ODE maps
    the noise z at t = 1 to x_t = a mu + sqrt(a^2 sd^2 + s^2) z at every t."""
    def denoise(x, i):
        a, s = grid.a[i], grid.s[i]
        x0 = mu + a * sd**2 / (a**2 * sd**2 + s**2) * (x - a * mu)
        return x0, (x - a * x0) / s
    return denoise


@pytest.mark.parametrize("process", [DDPMProcess("cosine", 1000), FlowProcess()],
                         ids=["ddpm", "flow"])
def test_ode_samplers_converge_to_the_exact_solution_second_order_ones_faster(process):
    z = torch.randn(1000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mu, sd = 0.3, 0.5
    errors = {}
    for name in ("ddim", "euler", "heun", "dpm-solver-2m"):
        for steps in (10, 100):
            grid = process.grid(steps)
            a, s = grid.a[0], grid.s[0]
            x = a * mu + math.sqrt(a**2 * sd**2 + s**2) * z  # exactly the marginal at t = 1
            out = SAMPLERS.get(name).run(_gaussian_denoiser(grid, mu, sd), x, grid, eta=0.0,
                                         draw=None)
            # every sampler's last step is the jump to E[x0 | x] from the last grid point
            # before t = 0; on the exact ODE path that is:
            a, s = grid.a[-2], grid.s[-2]
            want = mu + sd * z * a * sd / math.sqrt(a**2 * sd**2 + s**2)
            errors[name, steps] = (out - want).abs().max().item()
    for name in ("ddim", "euler", "heun", "dpm-solver-2m"):
        assert errors[name, 100] < errors[name, 10], (name, errors)
        assert errors[name, 100] < (3e-2 if name in ("ddim", "euler") else 1e-2), errors
    for second in ("heun", "dpm-solver-2m"):
        assert errors[second, 10] < errors["ddim", 10] / 4, errors
    assert errors["euler", 10] == errors["ddim", 10]  # the same update, eta = 0


@pytest.mark.parametrize("process", ["ddpm", "flow"])
def test_ddim_with_eta_zero_is_deterministic_and_inverts_to_1e_4(process):
    obj = tiny_objective(process=process, clip_x0=False, sampler="ddim", eta=0.0,
                         sample_steps=5, inversion_iters=10)
    net = obj.nets["denoiser"]
    with torch.no_grad():  # a tiny net whose output moves less than its input (a trained
        net.tail[-1].weight.mul_(0.2)  # one is close to that): the inverse is a fixed point
    z = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    x = obj.sample(net, {"z": z})
    assert torch.equal(obj.sample(net, {"z": z}), x)
    # sample() clamps its result to [-1, 1]: invert the unclamped chain's end
    grid = obj.process.grid(5)
    denoise = obj.denoiser(net, grid, None, clip=False)
    with torch.no_grad():
        xs = obj.sampler.run(denoise, z, grid, eta=0.0, draw=None)
        assert torch.allclose(xs.clamp(-1, 1), x)
        back = obj.encode(net, xs)["z"]
        assert (back - z).abs().max().item() < 1e-4
        # one step alone, from the middle of the chain
        x0, eps = denoise(z, 2)
        nxt = ddim_step(x0, eps, grid.a[2], grid.s[2], grid.a[3], grid.s[3], 0.0, None)
        assert (obj.invert_step(denoise, nxt, grid, 2) - z).abs().max().item() < 1e-4


def test_guidance_zero_is_the_unconditional_prediction_and_w_mixes_linearly():
    obj = tiny_objective(num_classes=3)
    net = obj.nets["denoiser"]
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    t, c = torch.full((4,), 0.4), torch.tensor([0, 1, 2, 1])
    null = torch.full((4,), 3)
    with torch.no_grad():
        cond, uncond = net(x, t, c), net(x, t, null)
        assert torch.equal(obj.predict(net, x, t, c, 0.0), uncond)
        assert torch.equal(obj.predict(net, x, t, c, 1.0), cond)
        assert torch.allclose(obj.predict(net, x, t, c, 3.0), uncond + 3 * (cond - uncond),
                              atol=1e-5)
    assert not torch.equal(cond, uncond)  # the label is used at all


@pytest.mark.parametrize("sampler", SAMPLERS.names())
@pytest.mark.parametrize("process", ["ddpm", "flow"])
def test_every_sampler_is_seeded_per_row(sampler, process):
    obj = tiny_objective(process=process, sampler=sampler, sample_steps=3, eta=0.5)
    net = obj.nets["denoiser"]

    def draw(seed, n=4):
        gen = torch.Generator().manual_seed(seed)
        inputs = obj.sample_inputs(n, gen)
        return obj.sample(net, inputs, SampleNoise.draw(n, gen))

    a = draw(7)
    assert a.shape == (4, 1, 8, 8) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(draw(7), a)
    assert not torch.equal(draw(8), a)
    # row i's image does not depend on the rows sampled with it
    gen = torch.Generator().manual_seed(7)
    inputs, noise = obj.sample_inputs(4, gen), None
    noise = SampleNoise.draw(4, gen)
    two = obj.sample(net, {"z": inputs["z"][2:]}, noise[2:])
    assert torch.allclose(two, a[2:], atol=1e-5)



@pytest.mark.parametrize("sampler, classes, guidance", [("dpm-solver-2m", 0, 1.0),
                                                        ("ddpm", 0, 1.0), ("ddim", 3, 2.0)])
def test_bf16_sampling_runs_the_network_in_bf16_and_the_steps_in_fp32(sampler, classes,
                                                                      guidance):
    kw = {"sampler": sampler, "sample_steps": 4, "num_classes": classes, "guidance": guidance,
          "eta": 0.5}
    fp32 = tiny_objective(**kw)
    bf16 = tiny_objective(**kw, sample_precision="bf16")
    assert not fp32.sample_bf16() and bf16.sample_bf16()
    seen = []  # the dtype the network's last conv computed in
    net = bf16.nets["denoiser"]
    last_conv = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    last_conv.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))

    def draw(obj):
        gen = torch.Generator().manual_seed(2)
        return obj.sample(obj.nets["denoiser"], obj.sample_inputs(4, gen),
                          SampleNoise.draw(4, gen))

    a, b = draw(fp32), draw(bf16)
    assert seen and set(seen) == {torch.bfloat16}
    assert b.dtype == torch.float32 and torch.equal(draw(bf16), b)  # seeded, as in fp32
    assert not torch.equal(a, b)  # the arithmetic did change
    # ... by bf16's rounding (8-bit mantissa) in each network call, guidance included.
    # Whole samples of an untrained net are no measure of it: near t = 1 its x0 estimate
    # (x - s eps) / a is far outside [-1, 1] and clipping turns a rounding into a sign;
    # a trained model's FID is unchanged (docs/diffusion.md, bf16 sampling)
    grid = fp32.process.grid(4)
    gen = torch.Generator().manual_seed(3)
    inputs = fp32.sample_inputs(4, gen)
    c = inputs.get("c")
    for i in range(grid.steps):
        x = torch.randn(4, 1, 8, 8, generator=gen)
        _, eps32 = fp32.denoiser(fp32.nets["denoiser"], grid, c, clip=False)(x, i)
        _, eps16 = bf16.denoiser(net, grid, c, clip=False)(x, i)
        assert eps16.dtype == torch.float32 and not torch.equal(eps16, eps32)
        assert (eps16 - eps32).abs().max().item() < 0.1 * eps32.abs().max().item()
    # DDIM inversion (interpolate --between) stays in fp32 whatever the precision
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1
    assert torch.equal(bf16.encode(net, x)["z"], fp32.encode(fp32.nets["denoiser"], x)["z"])


def test_stochastic_sampler_without_noise_streams_is_a_clear_error():
    obj = tiny_objective(sampler="ddpm", sample_steps=2)
    with pytest.raises(PixelsmithError, match="noise"):
        obj.sample(obj.nets["denoiser"], {"z": torch.zeros(1, 1, 8, 8)})


@pytest.mark.parametrize("bad, match", [
    ({"process": "flow", "prediction": "eps"}, "does not go with"),
    ({"sampler": "nope"}, "unknown sampler 'nope'"),
    ({"guidance": 2.0}, "conditional"),
    ({"sample_steps": 2000}, "1..1000"),
    ({"cond_drop": 1.0}, "cond_drop"),
])
def test_bad_objective_settings_are_one_line_errors(bad, match):
    with pytest.raises(PixelsmithError, match=match) as e:
        tiny_objective(**bad)
    assert "\n" not in str(e.value)


# -------------------------------------------------------------------- training
def _shared_args(path: Path, shared: Path) -> list[str]:
    if "digits" in path.stem:
        return []
    root = shared / "cifar10" if "cifar" in path.stem else shared
    return [f"data.root={root}"]


# the digits configs in the default suite; the real data sets' (loading them is most of the
# time) behind the slow marker
CONFIG_PARAMS = [pytest.param(p, id=p.stem, marks=() if "digits" in p.stem else pytest.mark.slow)
                 for p in sorted(CONFIGS.glob("*.yaml"))]


@pytest.mark.parametrize("path", CONFIG_PARAMS)
def test_one_training_step_per_config(path, tmp_path, request):
    shared = Path("unused") if "digits" in path.stem else request.getfixturevalue("shared_data")
    cfg = load_config(path, [*_shared_args(path, shared), "data.max_images=16",
                             "model.width=8", "model.max_width=16", "train.steps=1",
                             "train.batch_size=4", "train.num_samples=4",
                             "train.progress=false", "train.sample_every=0",
                             "train.checkpoint_every=0", "train.device=cpu",
                             "objective.sample_steps=2"])
    assert cfg.objective.name == "diffusion"
    trainer = Trainer(cfg, tmp_path / "run")
    before = {k: v.clone() for k, v in trainer.nets.state_dict().items()}
    trainer.fit()
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(row["denoiser/loss"])
    after = trainer.nets.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (tmp_path / "run" / "samples").is_dir()


def test_resume_is_exact_for_a_conditional_flow_with_warmup_and_ema(tmp_path):
    extra = ["model.conditional=true", "objective.process=flow", "train.ema_decay=0.9",
             "train.ema_start=1", "train.lr_warmup_steps=3", "objective.cond_drop=0.5"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    Trainer(load_config(None, [*TINY, "train.steps=4", *extra]), straight).fit()
    Trainer(load_config(None, [*TINY, "train.steps=2", *extra]), split).fit()
    Trainer.resume(split, ["train.steps=4"]).fit()
    a, b = load_checkpoint(straight), load_checkpoint(split)
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k
    for k in a.ema:
        assert torch.equal(a.ema[k], b.ema[k]), k
    rows = [json.loads(r) for r in (split / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["denoiser/lr"] for r in rows]
    assert lrs == pytest.approx([2e-4 / 3, 2 * 2e-4 / 3, 2e-4, 2e-4])


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("diffusion") / "run"
    Trainer(load_config(None, [*TINY, "model.conditional=true", "train.steps=2"]), run).fit()
    return run


def test_sample_command_takes_sampler_steps_and_guidance(cond_run, cli, tmp_path):
    out = tmp_path / "g.png"
    proc = cli("sample", cond_run, "--num", 4, "--out", out, "--sampler", "heun", "--steps",
               3, "--guidance", 2.0, "--class", 1)
    assert out.is_file() and "wrote 4 images" in proc.stdout
    bad = cli("sample", cond_run, "--sampler", "nope", "--out", tmp_path / "x.png", ok=False)
    assert bad.returncode != 0 and "unknown sampler 'nope'" in bad.stderr + bad.stdout


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_samples_in_bf16_only_where_the_device_has_it(native, monkeypatch):
    import pixelsmith.devices as devices

    seen = []  # the one probe of the hardware, answering as a CPU with or without bf16 would
    monkeypatch.setattr(devices, "bf16_is_fast", lambda device: seen.append(device) or native)
    auto = tiny_objective(sample_precision="auto")
    assert auto.sample_bf16() is native and seen == [torch.device("cpu")]
    assert tiny_objective(sample_precision="bf16").sample_bf16()  # asked for: always
    assert not tiny_objective(sample_precision="fp32").sample_bf16()


def test_sample_command_takes_the_precision_and_settings_name_what_ran(cond_run, cli, tmp_path):
    fp32, bf16 = tmp_path / "fp32.png", tmp_path / "bf16.png"
    cli("sample", cond_run, "--num", 4, "--out", fp32, "--steps", 3, "--seed", 1)
    proc = cli("sample", cond_run, "--num", 4, "--out", bf16, "--steps", 3, "--seed", 1,
               "--precision", "bf16")
    assert bf16.is_file() and "wrote 4 images" in proc.stdout
    assert fp32.read_bytes() != bf16.read_bytes()  # the denoiser did run in bf16
    bad = cli("sample", cond_run, "--precision", "fp16", "--out", tmp_path / "x.png", ok=False)
    assert bad.returncode != 0
    assert "--precision must be fp32, bf16 or auto, got 'fp16'" in bad.stderr + bad.stdout
    from pixelsmith.devices import bf16_is_fast
    from pixelsmith.generate.loading import sampling_settings
    auto = load_model(cond_run, device="cpu", overrides=["objective.sample_precision=auto"])
    want = "bf16" if bf16_is_fast(torch.device("cpu")) else "fp32"
    assert sampling_settings(auto)["sample_precision"] == want  # what ran, for the protocol


def test_same_seed_same_images_through_the_library_with_overrides(cond_run):
    for sampler in ("ddpm", "dpm-solver-2m"):
        model = load_model(cond_run, device="cpu",
                           overrides=[f"objective.sampler={sampler}", "objective.sample_steps=3"])
        a = generate(model, 5, seed=3, batch_size=2)
        assert torch.equal(generate(model, 5, seed=3, batch_size=2), a)
        # another batch size: the same inputs and noise streams; the network's float
        # rounding may differ with the batch (CPU kernels), never more than that
        assert torch.allclose(generate(model, 5, seed=3, batch_size=5), a, atol=1e-4)


def test_interpolate_command_takes_the_sampler_options(cond_run, cli, tmp_path):
    out = tmp_path / "walk.png"
    proc = cli("interpolate", cond_run, "--steps", 3, "--rows", 1, "--out", out,
               "--sampler", "ddim", "--sample-steps", 2, "--eta", 0.5, "--guidance", 1.5)
    assert out.is_file() and out.with_suffix(".gif").is_file() and "1 x 3 images" in proc.stdout
    bad = cli("interpolate", cond_run, "--sample-steps", 0, "--out", out, ok=False)
    assert bad.returncode == 2 and "--sample-steps must be at least 1, got 0" in bad.stderr


def test_export_command_samples_as_asked_and_records_it(cond_run, cli, tmp_path):
    """`export` takes the sampling options; its manifest says how the set was drawn, and
    the same settings and seed through the library give the same pixels."""
    import numpy as np
    from PIL import Image

    from pixelsmith.data.transforms import to_uint8

    out = tmp_path / "set"
    cli("export", cond_run, "--num", 6, "--out", out, "--seed", 4, "--sampler", "ddim",
        "--steps", 3, "--eta", 0.5, "--guidance", 1.5, "--precision", "bf16",
        "--device", "cpu")  # the noise streams and bf16 rounding of the CPU, as below
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sampling"] == {"sampler": "ddim", "sample_steps": 3, "guidance": 1.5,
                                    "eta": 0.5, "sample_precision": "bf16"}
    model = load_model(cond_run, device="cpu", overrides=[
        "objective.sampler=ddim", "objective.sample_steps=3", "objective.eta=0.5",
        "objective.guidance=1.5", "objective.sample_precision=bf16"])
    want = to_uint8(generate(model, 6, seed=4, labels=torch.arange(6) % 10)).numpy()
    files = sorted(out.glob("*/*.png"), key=lambda f: f.name)  # 000000.png ... by index
    got = np.stack([np.asarray(Image.open(f))[None] for f in files])
    assert got.shape == want.shape and np.abs(got.astype(int) - want).max() <= 1
    default = json.loads(_export(cli, cond_run, tmp_path / "default").read_text())
    assert default["sampling"]["sampler"] == "dpm-solver-2m"  # the run's own (TINY's)
    assert default["sampling"]["sample_steps"] == 4


def _export(cli, run, out):
    cli("export", run, "--num", 2, "--out", out, "--device", "cpu")
    return out / "manifest.json"


def test_interpolate_walks_between_noises_and_between_images(cond_run, tmp_path):
    from pixelsmith.data.image_files import save_png
    from pixelsmith.data.transforms import to_uint8
    from pixelsmith.generate.interpolate import interpolate

    model = load_model(cond_run, device="cpu", overrides=["objective.sampler=ddim"])
    frames = interpolate(model, 5, rows=2, seed=1)
    assert frames.shape == (2, 5, 1, 8, 8)
    ends = generate(model, 2, seed=4, labels=torch.tensor([0, 0]))
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for img, p in zip(to_uint8(ends), paths):
        save_png(img, p)
    walk = interpolate(model, 4, between=(paths[0], paths[1]))
    assert walk.shape == (1, 4, 1, 8, 8) and walk.isfinite().all()


# ------------------------------------------------------------------ inpainting
@pytest.mark.parametrize("process", ["ddpm", "flow"])
def test_repaint_keeps_known_pixels_bit_identical_and_is_seeded(process):
    obj = tiny_objective(process=process, sample_steps=3, inpaint_resample=2)
    net = obj.nets["denoiser"]
    y = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(6)) * 2 - 1
    mask = torch.ones(1, 1, 8, 8)
    mask[..., 2:6, 3:7] = 0  # a hole
    out = obj.inpaint(net, y, mask, SampleNoise.fixed(2, 0))
    keep = mask.expand_as(y).bool()
    assert torch.equal(out[keep], y[keep])
    assert not torch.equal(out[~keep], y[~keep])  # the hole was filled, not copied
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(obj.inpaint(net, y, mask, SampleNoise.fixed(2, 0)), out)
    assert not torch.equal(obj.inpaint(net, y, mask, SampleNoise.fixed(2, 1)), out)


def test_restore_inpaints_with_a_diffusion_run_and_keeps_known_pixels(cond_run, cli, tmp_path):
    from pixelsmith.data.image_files import read_image, save_png

    picture = torch.randint(0, 256, (1, 8, 8), generator=torch.Generator().manual_seed(9),
                            dtype=torch.uint8)
    save_png(picture, tmp_path / "pic.png")
    hole = torch.zeros(1, 8, 8, dtype=torch.uint8)
    hole[:, 1:5, 2:7] = 255  # white = missing
    save_png(hole, tmp_path / "mask.png")
    cli("restore", tmp_path / "pic.png", "--task", "inpaint", "--checkpoint", cond_run,
        "--mask", tmp_path / "mask.png", "--out", tmp_path / "out", "--device", "cpu")
    filled = read_image(tmp_path / "out" / "pic.png", 1).pixels
    known = hole == 0
    assert torch.equal(filled[known], picture[known])
    assert not torch.equal(filled[~known], picture[~known])
    # --precision reaches RePaint's denoiser: same holes, filled by bf16 arithmetic
    cli("restore", tmp_path / "pic.png", "--task", "inpaint", "--checkpoint", cond_run,
        "--mask", tmp_path / "mask.png", "--out", tmp_path / "bf16", "--device", "cpu",
        "--precision", "bf16")
    fast = read_image(tmp_path / "bf16" / "pic.png", 1).pixels
    assert torch.equal(fast[known], picture[known]) and not torch.equal(fast, filled)
