"""One check that every registered model passes, whatever its family: built through the real
config path at tiny width, sampled, trained one step, saved and loaded back, and trained
again to the same bits. Parametrised over ``MODELS``, so registering a model is all it takes
to have it checked (the idea of diffusers' ``ModelTesterMixin``). The tiny config is derived
from the model's Config dataclass and its ``default_objective``; a model this file cannot
build FAILS, naming what to add, and is never skipped."""

import dataclasses
import importlib
import pkgutil
from pathlib import Path

import pytest
import torch

import pixelsmith.models
from pixelsmith.config import load_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import LoadedModel, generate, load_model
from pixelsmith.objectives import SampleNoise
from pixelsmith.registry import MODELS
from pixelsmith.training import Trainer

NAMES = MODELS.names()
SIZE, CHANNELS, N = 16, 3, 4  # 3 channels: a net that assumes gray fails here
# CPU and fp32 pinned: the checks are about the code, not about GPU kernels' determinism
BASE = [
    "data.name=digits", f"data.img_size={SIZE}", f"data.img_channels={CHANNELS}",
    "data.max_images=32", "train.batch_size=4", "train.steps=1", "train.device=cpu",
    "train.precision=fp32", "train.ema_decay=0", "train.log_every=1", "train.sample_every=0",
    "train.checkpoint_every=0", f"train.num_samples={N}", "train.progress=false",
]
# integer model fields with these names are lowered to these values (never raised); any
# field named *width* to 4 (max_width: 8)
SMALLER = {"z_dim": 8, "label_dim": 4, "embed_dim": 4, "depth": 3, "blocks": 1, "levels": 2,
           "d_levels": 2, "dilated": 1}


@dataclasses.dataclass(frozen=True)
class Feed:
    """What a model's objective needs beyond the model's own fields."""

    data: tuple[str, ...] = ()  # data overrides
    panels: int = 1  # pictures side by side (2 px apart) in one sample, as ``sample`` documents


FEEDS = {
    "gan": Feed(),
    "progan": Feed(),  # the GAN objective with a growth schedule: samples at the image size
    "vae": Feed(),
    # restorers train on patches (12: a multiple of every SR scale); degraded|restored|clean
    "restoration": Feed(("data.patch_size=12",), panels=3),
    "inpainting": Feed(panels=3),  # masked | inpainted | original
    "diffusion": Feed(),
}
# per model, what no rule above derives (none needed today); the failures below point here
EXPLICIT: dict[str, list[str]] = {}
HOW_TO_FIX = ("give it what it needs in EXPLICIT (a model) or FEEDS (a new objective) in "
              "tests/test_every_model.py")


def _default(cls, field: str):
    return next((f.default for f in dataclasses.fields(cls) if f.name == field), None)


def tiny_overrides(name: str) -> list[str]:
    """The ``--set`` overrides that build model ``name`` tiny on the embedded digits."""
    cls = MODELS.entry(name).config
    if cls is None or not dataclasses.is_dataclass(cls):
        pytest.fail(f"model '{name}' is registered without a Config dataclass (config=...); "
                    "without one no config can name it")
    objective = getattr(cls, "default_objective", None)
    if objective not in FEEDS:
        pytest.fail(f"model '{name}' trains with objective {objective!r} (its Config's "
                    f"default_objective ClassVar), which this check cannot feed; {HOW_TO_FIX}")
    over = [*BASE, f"model.name={name}", *FEEDS[objective].data]
    for f in dataclasses.fields(cls):
        if isinstance(f.default, bool) or not isinstance(f.default, int):
            continue
        small = (8 if f.name.startswith("max") else 4) if "width" in f.name else SMALLER.get(
            f.name)
        if small is not None and small < f.default:
            over.append(f"model.{f.name}={small}")
    scale = _default(cls, "scale") or 1
    if objective == "restoration" and scale > 1:
        # a restorer that changes the size (srnet) learns super-resolution: its only
        # degradation is bicubic-down by its own scale
        over.append(f"objective.degradation={{name: bicubic-down, scale: {scale}}}")
    return [*over, *EXPLICIT.get(name, [])]


def build_trainer(name: str, run_dir: Path) -> Trainer:
    over = tiny_overrides(name)
    try:
        return Trainer(load_config(None, over), run_dir)
    except Exception as e:  # noqa: BLE001 - any failure to build is this check's failure
        pytest.fail(f"model '{name}' cannot be built from the generic tiny config {over}: "
                    f"{type(e).__name__}: {e}; {HOW_TO_FIX}")


def params(trainer: Trainer) -> dict[str, dict[str, torch.Tensor]]:
    return {n: {k: p.detach().clone() for k, p in net.named_parameters()}
            for n, net in trainer.nets.items()}


def feed(trainer: Trainer) -> Feed:
    return FEEDS[trainer.cfg.objective.name]


@dataclasses.dataclass
class Trained:
    trainer: Trainer  # after one step (fit: grid, checkpoint, curves)
    run: Path
    before: dict[str, dict[str, torch.Tensor]]  # every network's parameters before the step


@pytest.fixture(scope="module", params=NAMES)
def trained(request, tmp_path_factory) -> Trained:
    """Each model trained once for all the checks below (module scope: one run per model)."""
    run = tmp_path_factory.mktemp(request.param) / "run"
    trainer = build_trainer(request.param, run)
    before = params(trainer)
    return Trained(trainer.fit(), run, before)


def test_every_model_file_registers_on_package_import():
    # a models/*.py that pixelsmith.models does not import is unknown to every config (and
    # would escape the parametrisation above): importing each file must add no model
    for mod in pkgutil.iter_modules(pixelsmith.models.__path__):
        importlib.import_module(f"pixelsmith.models.{mod.name}")
    assert MODELS.names() == NAMES
    assert {"dcgan", "vae", "dncnn", "inpaint-unet"} <= set(NAMES)  # one per family at least


@pytest.mark.parametrize("name", NAMES)
def test_builds_tiny_through_the_config_path(name, tmp_path):
    trainer = build_trainer(name, tmp_path / "run")
    cfg = trainer.cfg
    assert type(cfg.model) is MODELS.entry(name).config
    assert cfg.objective.name == type(cfg.model).default_objective
    widths = {f.name: getattr(cfg.model, f.name) for f in dataclasses.fields(cfg.model)
              if "width" in f.name}
    assert all(w <= 8 for w in widths.values()), widths
    size = sum(p.numel() for p in trainer.nets.parameters())
    assert size < 50_000, f"{name}: {size} parameters is not tiny; lower more fields"
    # no network is dead weight: each is trained by some phase, and one of them samples
    assert {m for phase in trainer.phases for m in phase.modules} == set(trainer.nets)
    assert trainer.objective.sample_module in trainer.nets


def test_samples_have_the_documented_shape_and_range(trained):
    trainer = trained.trainer
    net = trainer.sampling_net().eval()  # training is over: eval for BatchNorm and dropout
    images = trainer.objective.sample(net, trainer.fixed_inputs, trainer.fixed_noise)
    # restorers show a centre crop rounded down to their scale; everyone else whole images
    scale = getattr(trainer.objective, "scale", 1)
    side, panels = SIZE - SIZE % scale, feed(trainer).panels
    assert images.shape == (N, CHANNELS, side, panels * side + 2 * (panels - 1))
    assert images.isfinite().all() and images.min() >= -1 and images.max() <= 1


def test_one_step_moves_every_trained_network_and_stays_finite(trained):
    for name, net in trained.trainer.nets.items():
        before = trained.before[name]
        moved = {k for k, p in net.named_parameters() if not torch.equal(p, before[k])}
        assert moved, f"{name}: no parameter changed in one step"
        for k, p in net.named_parameters():
            assert p.isfinite().all(), f"{name}.{k} is not finite"
            # a parameter may stay put only when its gradient was zero up to rounding:
            # attention that starts as the identity, a hinge D's bias with both terms
            # active, a conv bias that BatchNorm cancels (~1e-16). The trainer leaves each
            # phase's last gradients in .grad
            if k not in moved and p.grad is not None:
                assert p.grad.abs().max() < 1e-10, f"{name}.{k} had a gradient but stayed put"
        assert all(b.isfinite().all() for b in net.buffers() if b.is_floating_point())


def test_loaded_run_has_the_trained_weights(trained):
    loaded = load_model(trained.run, device="cpu")
    assert not loaded.used_ema
    assert loaded.net is loaded.objective.nets[loaded.objective.sample_module]
    want, got = trained.trainer.nets.state_dict(), loaded.objective.nets.state_dict()
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert torch.equal(got[k], v), k


def test_sampling_is_seeded_and_the_loaded_net_samples_as_the_trainer(trained):
    trainer = trained.trainer
    loaded = load_model(trained.run, device="cpu")
    # the trainer's own objective and network, through the same sampling code as the run
    own = LoadedModel(trainer.cfg, loaded.meta, trainer.objective,
                      trainer.sampling_net().eval(), loaded.path, used_ema=False)
    if loaded.objective.makes_images:
        a = generate(loaded, N, seed=7)
        assert torch.equal(generate(loaded, N, seed=7), a)
        assert torch.equal(generate(own, N, seed=7), a)
        assert not torch.equal(generate(loaded, N, seed=8), a)  # the seed is used
        return
    # mending models have nothing to sample from noise: they say so, in one line
    with pytest.raises(PixelsmithError) as e:
        generate(loaded, N, seed=7)
    assert "\n" not in str(e.value)
    images = trainer.batches.first_images(N)

    def draw(model: LoadedModel) -> torch.Tensor:
        gen = torch.Generator().manual_seed(7)  # fixes the grid's masks / degradations
        inputs = model.objective.grid_inputs(N, gen, images)
        return model.objective.sample(model.net, inputs, SampleNoise.draw(N, gen))

    a = draw(loaded)
    assert torch.equal(draw(loaded), a)
    assert torch.equal(draw(own), a)


def test_same_config_and_seed_give_the_same_weights(trained, tmp_path):
    # init, data order, noise and masks all come from train.seed: a second run is bitwise
    # the first (buffers too: BatchNorm statistics, spectral-norm vectors)
    again = build_trainer(trained.trainer.cfg.model.name, tmp_path / "again").fit()
    want = trained.trainer.nets.state_dict()
    for k, v in again.nets.state_dict().items():
        assert torch.equal(v, want[k]), k
