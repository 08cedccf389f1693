"""CUDA graphs for the denoiser call while sampling: the same images as eager sampling
with every sampler, guidance and RePaint, one capture per batch shape reused across
batches, a new capture when the weights move. The GPU tests need CUDA (`pytest -m gpu`);
three run anywhere: the CPU path, a failed capture's call staying off, and training runs
sampling without graphs."""

from pathlib import Path

import pytest
import torch

from pixelsmith.config import load_config
from pixelsmith.data.base import DataInfo
from pixelsmith.generate import generate, load_model
from pixelsmith.models import build_model
from pixelsmith.nn.cuda_graph import GraphedCall, graph_key
from pixelsmith.objectives import SampleNoise
from pixelsmith.objectives.diffusion import DiffusionObjective, DiffusionObjectiveConfig
from pixelsmith.registry import MODELS, SAMPLERS
from pixelsmith.training import Trainer
from pixelsmith.zoo.loading import card_checkpoint, find_card

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DIGITS = Path(__file__).parents[1] / "configs" / "diffusion" / "ddpm-digits.yaml"


def objective(device: str, *, num_classes: int = 0, **cfg) -> DiffusionObjective:
    """A randomly initialised small U-Net (16 px, attention at 8 px) and its objective."""
    torch.manual_seed(0)
    model_cfg = MODELS.entry("unet-denoiser").config(
        width=16, max_width=32, levels=2, blocks=1, dropout=0.0, attention_levels=1,
        conditional=num_classes > 0)
    nets = build_model(model_cfg, img_size=16, img_channels=1, num_classes=num_classes)
    return DiffusionObjective(DiffusionObjectiveConfig(**cfg), nets.eval().to(device),
                              DataInfo(16, 1, num_classes), torch.device(device))


def draw(obj: DiffusionObjective, num: int, sampler: str, steps: int = 6, seed: int = 0,
         labels=None) -> torch.Tensor:
    inputs = obj.sample_inputs(num, torch.Generator().manual_seed(seed), labels)
    noise = SampleNoise.fixed(num, seed)
    return obj.sample(obj.nets["denoiser"], inputs, noise, sampler=sampler, steps=steps)


def captures(obj: DiffusionObjective) -> int:
    return sum(call.captures for call in obj._calls.values())


def test_on_the_cpu_the_call_is_the_function_itself():
    calls = []
    graphed = GraphedCall(lambda x, t: calls.append(x) or x * 2)
    x = torch.ones(3)
    assert torch.equal(graphed(x, None), x * 2) and graphed.captures == 0
    obj = objective("cpu")
    draw(obj, 4, "dpm-solver-2m", steps=3)
    assert captures(obj) == 0 and len(calls) == 1


def test_a_call_disabled_by_a_failed_capture_stays_disabled():
    obj = objective("cpu")
    net = obj.nets["denoiser"]
    call = obj.network_call(net, bf16=False)
    assert not call.disabled  # graphs on: used wherever the device is CUDA
    call.disabled = True  # what a failed capture leaves
    assert obj.network_call(net, bf16=False) is call and call.disabled  # not retried


def tiny_trainer(device: str, tmp_path) -> Trainer:
    cfg = load_config(DIGITS, ["model.width=8", "model.max_width=16", "train.steps=1",
                               "train.num_samples=4", "train.progress=false",
                               "objective.sample_steps=3", f"train.device={device}"])
    return Trainer(cfg, tmp_path / "run")


def test_a_training_run_samples_without_graphs(tmp_path):
    # a graph would keep its memory through the run, and a capture syncs the GPU mid-run
    trainer = tiny_trainer("cpu", tmp_path)
    assert trainer.objective.sample_graphs is False
    call = trainer.objective.network_call(trainer.sampling_net(), bf16=False)
    assert call.disabled


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("sampler", SAMPLERS.names())
@pytest.mark.parametrize("process", ["ddpm", "flow"])
def test_graphs_give_eager_sampling_images(process, sampler, bf16):
    prec = "bf16" if bf16 else "fp32"
    eager = objective("cuda", process=process, cuda_graphs=False, sample_precision=prec)
    graphed = objective("cuda", process=process, sample_precision=prec)
    a, b = draw(eager, 8, sampler), draw(graphed, 8, sampler)
    assert captures(graphed) == 1 and captures(eager) == 0
    # the same kernels on the same inputs; what can differ is an algorithm chosen anew
    assert (a - b).abs().max().item() <= (2e-2 if bf16 else 1e-4), (a - b).abs().max()


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("guidance", [0.0, 1.0, 2.5])
def test_graphs_with_classifier_free_guidance(guidance):
    labels = torch.arange(8) % 3
    eager = objective("cuda", num_classes=3, guidance=guidance, cuda_graphs=False)
    graphed = objective("cuda", num_classes=3, guidance=guidance)
    a = draw(eager, 8, "ddpm", labels=labels)
    b = draw(graphed, 8, "ddpm", labels=labels)
    assert (a - b).abs().max().item() <= 1e-4 and captures(graphed) == 1


@pytest.mark.gpu
@needs_cuda
def test_one_capture_per_batch_shape_and_anew_when_the_weights_move():
    obj = objective("cuda")
    net = obj.nets["denoiser"]
    first = draw(obj, 8, "heun", steps=5)
    same = draw(obj, 8, "heun", steps=5)  # all replayed (the first began eagerly)
    assert (same - first).abs().max().item() <= 1e-4
    draw(obj, 8, "dpm-solver-2m", steps=7, seed=3)
    assert captures(obj) == 1  # every batch of 8 replays the one graph
    draw(obj, 5, "dpm-solver-2m")
    assert captures(obj) == 2  # a new batch shape captures its own
    key = graph_key(net)
    old = [p.data for p in net.parameters()]  # held: the new storage cannot reuse them
    net.to("cpu").to("cuda")  # new storage: the old graph would read the old
    assert graph_key(net) != key
    assert all(o.data_ptr() != q.data_ptr() for o, q in zip(old, net.parameters()))
    again = draw(obj, 8, "heun", steps=5)
    assert captures(obj) == 3 and (again - first).abs().max().item() <= 1e-4
    with torch.no_grad():  # weights changed in place (EMA, a loaded state): graphs see them
        for p in net.parameters():
            p.mul_(0.5)
    eager = objective("cuda", cuda_graphs=False)
    eager.nets["denoiser"].load_state_dict(net.state_dict())
    halved = draw(obj, 8, "heun", steps=5)
    assert captures(obj) == 3 and (halved - again).abs().max().item() > 1e-2
    assert (halved - draw(eager, 8, "heun", steps=5)).abs().max().item() <= 1e-4


@pytest.mark.gpu
@needs_cuda
def test_repaint_with_graphs_keeps_known_pixels_and_matches_eager():
    y = torch.rand(4, 1, 16, 16, device="cuda") * 2 - 1
    mask = torch.ones(1, 1, 16, 16, device="cuda")
    mask[..., 4:12, 4:12] = 0
    out = []
    for graphs in (False, True):
        obj = objective("cuda", sample_steps=5, cuda_graphs=graphs)
        out.append(obj.inpaint(obj.nets["denoiser"], y, mask, SampleNoise.fixed(4, 0)))
        assert captures(obj) == (1 if graphs else 0)
        assert torch.equal(out[-1][mask.bool().expand_as(y)], y[mask.bool().expand_as(y)])
    assert (out[0] - out[1]).abs().max().item() <= 1e-4


@pytest.mark.gpu
@needs_cuda
def test_the_packaged_ddpm_samples_the_same_with_and_without_graphs():
    ckpt = card_checkpoint(find_card("ddpm-fashion-mnist"))
    imgs = []
    for graphs in ("true", "false"):
        m = load_model(ckpt, device="cuda", overrides=[f"objective.cuda_graphs={graphs}"])
        imgs.append(generate(m, 24, seed=1, batch_size=16))
        assert captures(m.objective) == (2 if graphs == "true" else 0)  # batches 16 and 8
    assert imgs[0].shape == (24, 1, 28, 28)
    assert (imgs[0] - imgs[1]).abs().max().item() <= 1e-4


@pytest.mark.gpu
@needs_cuda
def test_a_capture_that_fails_warns_and_stays_eager():
    def syncs(x):  # a host read: not allowed while capturing
        return x * float(x.sum().item() > -1)

    call = GraphedCall(syncs)
    x = torch.ones(4, device="cuda")
    with torch.no_grad():
        assert torch.equal(call(x), x)  # warm-up
        with pytest.warns(UserWarning, match="CUDA graph capture failed"):
            assert torch.equal(call(x), x)
        assert call.disabled and call.captures == 0
        assert torch.equal(call(x + 1), x + 1)  # eager from then on
        y = torch.randn(64, 64, device="cuda")
        assert torch.allclose(y @ y, (y.cpu() @ y.cpu()).cuda(), atol=1e-3)  # CUDA is fine


@pytest.mark.gpu
@needs_cuda
def test_no_graph_in_training_mode_in_inference_mode_or_with_gradients():
    obj = objective("cuda")
    net = obj.nets["denoiser"]
    net.train()  # dropout would be replayed with the same noise
    draw(obj, 4, "ddim", steps=3)
    net.eval()
    with torch.inference_mode():  # its tensors could not be written outside it later
        draw(obj, 4, "ddim", steps=3)
    assert captures(obj) == 0
    with torch.enable_grad():
        call = obj.network_call(net, bf16=False)
        x, t = torch.randn(4, 1, 16, 16, device="cuda"), torch.rand(4, device="cuda")
        for _ in range(3):
            assert call(x, t, None).requires_grad
    draw(obj, 4, "ddim", steps=3)  # plain no_grad after inference mode: captures
    assert captures(obj) == 1


@pytest.mark.gpu
@needs_cuda
def test_a_training_run_on_the_gpu_samples_its_grid_without_graphs(tmp_path):
    trainer = tiny_trainer("cuda", tmp_path)
    trainer.fit()
    assert trainer.sample_grid().is_file()
    trainer.sample_grid()
    assert captures(trainer.objective) == 0
