"""BigGAN (models/biggan.py) and what it brought to every family: the orthogonal
regulariser against a hand computation, the truncation trick (never beyond its threshold,
in sample / interpolate / export), the hierarchical latent and shared embedding reaching
every block, and gradient accumulation equal to one large batch."""

import json
import math

import pytest
import torch
from torch import nn

from pixelsmith.config import load_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import generate, load_model
from pixelsmith.generate.export import export
from pixelsmith.generate.interpolate import interpolate
from pixelsmith.generate.sampler_options import sampler_overrides
from pixelsmith.models.biggan import Generator, z_chunks
from pixelsmith.objectives.gan import truncated_randn
from pixelsmith.objectives.regularizers import orthogonal_penalty
from pixelsmith.training import Trainer

TINY = ["model.name=biggan", "data.name=digits", "data.img_size=16", "data.max_images=32",
        "model.z_dim=9", "model.g_width=4", "model.d_width=4", "model.max_width=8",
        "model.embed_dim=4", "objective.loss=hinge", "objective.ortho_weight=5e-5",
        "train.batch_size=4", "train.device=cpu", "train.precision=fp32",
        "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=0",
        "train.num_samples=4", "train.progress=false"]


@pytest.fixture(scope="module")
def biggan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("biggan") / "run"
    Trainer(load_config(None, [*TINY, "train.steps=2"]), run).fit()
    return run


# ------------------------------------------------------------ orthogonal penalty
def test_orthogonal_penalty_against_a_hand_computation():
    net = nn.Module()
    net.lin = nn.Linear(3, 2)  # rows (1, 2, 0) and (0, 1, 1): dot product 2
    net.conv = nn.Conv2d(1, 2, 2)  # filters (1, 0, 0, 1) and (1, 1, 1, -1): dot product 0
    net.embed = nn.Embedding(4, 3)  # excluded, as BigGAN's shared embedding
    with torch.no_grad():
        net.lin.weight.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]))
        net.conv.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 1.0],
                                            [1.0, 1.0, 1.0, -1.0]]).view(2, 1, 2, 2))
        net.embed.weight.fill_(3.0)
    # off-diagonal of each Gram matrix, squared and summed: 2 * 2^2 + 2 * 0^2; biases skipped
    assert orthogonal_penalty(net).item() == pytest.approx(8.0)
    with torch.no_grad():
        net.conv.weight[1, 0, 1, 1] = 1.0  # second filter (1, 1, 1, 1): dot product 2
    assert orthogonal_penalty(net).item() == pytest.approx(16.0)
    # gradient: d/dW ||W W^T - diag||^2 = 4 (W W^T * (1 - I)) W
    w = net.lin.weight
    orthogonal_penalty(net).backward()
    gram = (w @ w.T).detach() * (1 - torch.eye(2))
    assert torch.allclose(w.grad, 4 * gram @ w.detach())


def test_training_logs_the_orthogonal_penalty(biggan_run):
    rows = [json.loads(line) for line in (biggan_run / "metrics.jsonl").read_text().splitlines()]
    assert all(r["g/ortho"] > 0 for r in rows) and len(rows) == 2


# -------------------------------------------------------------------- truncation
@pytest.mark.parametrize("threshold", [0.04, 0.5, 1.0, 2.0])
def test_truncated_normal_never_passes_the_threshold_and_has_its_variance(threshold):
    z = truncated_randn(20000, 10, threshold, torch.Generator().manual_seed(0))
    assert z.shape == (20000, 10) and z.abs().max() <= threshold
    # variance of N(0, 1) restricted to [-t, t]: 1 - 2 t phi(t) / (2 Phi(t) - 1)
    phi = math.exp(-threshold**2 / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(threshold / math.sqrt(2))
    assert z.var().item() == pytest.approx(1 - 2 * threshold * phi / mass, rel=0.02)
    assert abs(z.mean().item()) < 0.01 * threshold + 0.005
    again = truncated_randn(20000, 10, threshold, torch.Generator().manual_seed(0))
    assert torch.equal(z, again)  # the seed fixes the draws


def test_truncation_reaches_sample_interpolate_and_export(biggan_run, tmp_path):
    plain = load_model(biggan_run, device="cpu")
    cut = load_model(biggan_run, device="cpu", overrides=["objective.truncation=0.5"])
    z = cut.objective.sample_inputs(256, torch.Generator().manual_seed(3))["z"]
    assert z.abs().max() <= 0.5
    assert not torch.equal(generate(cut, 4, seed=1), generate(plain, 4, seed=1))
    # interpolation walks stay inside the cube too (slerp alone could leave it)
    a, b = ({"z": torch.full((1, 9), s * 0.5), "c": torch.zeros(1, dtype=torch.long)}
            for s in (1, -1))
    walk = cut.objective.interpolate_inputs(a, b, torch.linspace(0, 1, 7))
    assert walk["z"].abs().max() <= 0.5
    assert interpolate(cut, 3, rows=2, seed=0).shape == (2, 3, 1, 16, 16)
    manifest = export(cut, 4, tmp_path / "set", seed=0)
    assert manifest["truncation"] == 0.5
    with pytest.raises(PixelsmithError, match="--truncation must be a number > 0"):
        from pixelsmith.generate.loading import truncation_overrides
        truncation_overrides(-1.0)


def test_sample_command_takes_truncation(biggan_run, tmp_path):
    from typer.testing import CliRunner

    from pixelsmith.cli import app

    out = tmp_path / "s.png"
    args = ["sample", str(biggan_run), "--num", "4", "--out", str(out), "--device", "cpu"]
    proc = CliRunner().invoke(app, [*args, "--truncation", "0.5"])
    assert proc.exit_code == 0, proc.output
    assert out.is_file() and "wrote 4 images" in proc.output
    bad = CliRunner().invoke(app, [*args, "--truncation", "0"])
    # the app raises; the console script's one handler prints it as one line
    assert isinstance(bad.exception, PixelsmithError)
    assert "--truncation must be a number > 0" in str(bad.exception)


def test_a_sampling_option_of_another_family_says_which_models_take_it(tmp_path):
    vae = tmp_path / "vae"
    Trainer(load_config(None, ["model.name=vae", "model.width=4", "data.name=digits",
                               "data.img_size=16", "data.max_images=16", "train.batch_size=8",
                               "train.steps=1", "train.sample_every=0",
                               "train.progress=false"]), vae).fit()
    with pytest.raises(PixelsmithError, match="--truncation applies to GANs; this run is a "
                                              "'vae' model"):
        load_model(vae, device="cpu", overrides=["objective.truncation=0.5"])
    with pytest.raises(PixelsmithError, match="--steps applies to diffusion models"):
        load_model(vae, device="cpu", overrides=["objective.sample_steps=4"])
    with pytest.raises(PixelsmithError, match="--precision applies to diffusion models"):
        load_model(vae, device="cpu", overrides=sampler_overrides(precision="bf16"))


# ---------------------------------------------------------------- the generator
def test_each_block_gets_the_shared_embedding_and_its_own_z_chunk():
    torch.manual_seed(0)
    g = Generator(z_dim=10, img_size=16, img_channels=3, width=4, max_width=8,
                  num_classes=5, embed_dim=3, attention=8)
    assert g.chunks == z_chunks(10, 3) == [4, 3, 3]
    seen = []
    for block in g.blocks:
        block.bn1.register_forward_hook(lambda m, i, o: seen.append(i[1]))
    z, c = torch.randn(2, 10), torch.tensor([1, 4])
    assert g(z, c).shape == (2, 3, 16, 16)
    shared = g.shared(c)
    assert torch.equal(seen[0], torch.cat([shared, z[:, 4:7]], 1))
    assert torch.equal(seen[1], torch.cat([shared, z[:, 7:10]], 1))
    g.eval()  # the last chunk and the class change the image; BN in eval: rows independent
    z2 = z.clone()
    z2[:, 9] += 1
    assert not torch.allclose(g(z, c), g(z2, c))
    assert not torch.allclose(g(z, c), g(z, torch.tensor([2, 0])))
    with pytest.raises(PixelsmithError, match="model.z_dim must be at least 3"):
        z_chunks(2, 3)


# ----------------------------------------------------------- gradient accumulation
SR = ["model.name=srnet", "model.width=4", "model.blocks=1", "data.name=digits",
      "data.img_size=16", "data.patch_size=12", "data.max_images=32", "train.batch_size=8",
      "train.device=cpu", "train.precision=fp32", "train.progress=false",
      "objective.degradation={name: bicubic-down, scale: 2}", "train.log_every=1",
      "train.sample_every=0", "train.checkpoint_every=0", "train.num_samples=2"]


def test_k_micro_batches_give_the_gradient_and_step_of_one_k_times_batch(tmp_path):
    # a network without batch statistics and a loss without noise: the same batch split
    # into 4 parts of 2 must give the gradient of the whole batch, up to float rounding
    runs = {k: Trainer(load_config(None, [*SR, f"train.accumulate={k}", "train.steps=1"]),
                       tmp_path / str(k)) for k in (1, 4)}
    rows = []
    runs[4].nets["restorer"].register_forward_hook(lambda m, i, o: rows.append(len(i[0])))
    for trainer in runs.values():
        trainer.train_step()
    assert rows == [2, 2, 2, 2]  # four forward passes on parts of the batch
    one, four = (dict(runs[k].nets["restorer"].named_parameters()) for k in (1, 4))
    for name, p in one.items():
        assert p.grad is not None and p.grad.abs().max() > 0
        assert torch.allclose(four[name].grad, p.grad, rtol=1e-4, atol=1e-7), name
        assert torch.allclose(four[name], p, atol=1e-6), name
    # the logged loss is the mean over the parts: the whole batch's mean
    assert runs[4]._counts["restorer/loss"] == 4
    loss1, loss4 = (runs[k]._sums["restorer/loss"] / runs[k]._counts["restorer/loss"]
                    for k in (1, 4))
    assert loss4.item() == pytest.approx(loss1.item(), rel=1e-5)


def test_accumulate_must_divide_the_batch(tmp_path):
    with pytest.raises(PixelsmithError, match="train.batch_size 8 must be divisible by "
                                              "train.accumulate 3"):
        Trainer(load_config(None, [*SR, "train.accumulate=3"]), tmp_path / "run")
