"""The objective contract (objectives/base.py): the trainer tells the objective the step,
applies the learning-rate schedule to every phase and saves it, and sampling noise is a
per-image stream that honours the seed at any batch size."""

from __future__ import annotations

import json
import math

import pytest
import torch

from helpers import tiny_config
from pixelsmith.config import load_config
from pixelsmith.errors import PixelsmithError
from pixelsmith.generate import generate, generate_to_folder, load_model
from pixelsmith.generate.export import export
from pixelsmith.objectives import SampleNoise
from pixelsmith.training import Trainer
from pixelsmith.training.checkpoint import load_checkpoint
from pixelsmith.training.schedule import LRSchedule

RESTORER = ["model.name=dncnn", "model.depth=3", "model.width=4", "data.name=digits",
            "data.img_size=16", "data.max_images=32", "data.patch_size=8", "train.batch_size=4",
            "train.log_every=1", "train.num_samples=4", "train.progress=false"]


def _rows(run, key):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(ln)[key] for ln in lines if key in json.loads(ln)]


# ------------------------------------------------------------------ the step
def test_the_objective_is_told_the_step_and_images_seen_before_each_step(tmp_path):
    tr = Trainer(tiny_config("train.steps=3", "objective.n_critic=2"), tmp_path / "run")
    seen = []
    original = tr.objective.begin_step

    def record(step, images_seen):
        seen.append((step, images_seen))
        original(step, images_seen)

    tr.objective.begin_step = record
    tr.fit()
    # batch 16, two fresh D batches a step (G reuses D's): 32 real images a step
    assert seen == [(0, 0), (1, 32), (2, 64)]
    assert (tr.objective.step, tr.objective.images_seen) == (2, 64)


def test_a_resumed_run_tells_the_objective_the_same_steps(tmp_path):
    Trainer(tiny_config("train.steps=2"), tmp_path / "run").fit()
    tr = Trainer.resume(tmp_path / "run", ["train.steps=3"])
    seen = []
    tr.objective.begin_step = lambda step, images: seen.append((step, images))
    tr.fit()
    assert seen == [(2, 32)]


# ---------------------------------------------------------------- lr schedule
def _schedule(**train):
    return LRSchedule(tiny_config(*(f"train.{k}={v}" for k, v in train.items())).train)


def test_schedule_factors_against_their_formulas():
    assert not _schedule().active and _schedule().factor(123) == 1.0
    step = _schedule(lr_schedule="step", lr_milestones="[3, 5]", lr_gamma=0.5)
    assert [step.factor(s) for s in range(7)] == [1, 1, 1, 0.5, 0.5, 0.25, 0.25]
    cos = _schedule(lr_schedule="cosine", steps=10, lr_warmup_steps=2, lr_min_ratio=0.1)
    assert cos.factor(0) == pytest.approx(0.5) and cos.factor(1) == pytest.approx(1.0)
    for s in (2, 4, 6, 10, 50):  # after warm-up: half a cosine from 1 to 0.1 over steps 2..10
        t = min((s - 2) / 8, 1)
        assert cos.factor(s) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * t)) / 2)
    warm = _schedule(lr_warmup_steps=4)
    assert warm.active and [warm.factor(s) for s in range(6)] == [0.25, 0.5, 0.75, 1, 1, 1]


@pytest.mark.parametrize("train,match", [
    ({"lr_schedule": "step"}, "step needs train.lr_milestones"),
    ({"lr_schedule": "step", "lr_milestones": "[0]"}, "steps >= 1"),
    ({"lr_schedule": "step", "lr_milestones": "[4]", "lr_gamma": 0}, "lr_gamma must be > 0"),
    ({"lr_warmup_steps": -1}, "lr_warmup_steps must be >= 0"),
    ({"lr_schedule": "cosine", "lr_min_ratio": 2}, r"lr_min_ratio must be in \[0, 1\]"),
    ({"lr_milestones": "[4]"}, "lr_milestones is set but train.lr_schedule is 'constant'"),
])
def test_bad_schedules_are_one_line_errors_before_any_data_is_read(train, match, tmp_path):
    cfg = tiny_config(*(f"train.{k}={v}" for k, v in train.items()), "data.name=mnist",
                      f"data.root={tmp_path}")  # no MNIST there: the schedule fails first
    with pytest.raises(PixelsmithError, match=match):
        Trainer(cfg, tmp_path / "run")


def test_unknown_schedule_names_the_choices():
    with pytest.raises(PixelsmithError, match="train.lr_schedule' must be one of constant, step"):
        tiny_config("train.lr_schedule=linear")


def test_every_phase_follows_the_schedule_and_it_is_logged(tmp_path):
    cfg = tiny_config("train.steps=4", "train.lr_schedule=cosine", "train.lr_warmup_steps=2",
                      "objective.lr_g=0.002", "objective.lr_d=0.001")
    Trainer(cfg, tmp_path / "run").fit()
    factors = [LRSchedule(cfg.train).factor(s) for s in range(4)]
    assert _rows(tmp_path / "run", "g/lr") == pytest.approx([0.002 * f for f in factors])
    assert _rows(tmp_path / "run", "d/lr") == pytest.approx([0.001 * f for f in factors])
    groups = load_checkpoint(tmp_path / "run").train_state()["optimizers"]["g"]["param_groups"]
    assert groups[0]["initial_lr"] == 0.002  # the base the schedule multiplies, saved


@pytest.mark.parametrize("schedule", [
    ["train.lr_schedule=cosine", "train.lr_warmup_steps=3", "train.lr_min_ratio=0.05"],
    ["train.lr_schedule=step", "train.lr_milestones=[2, 4]", "train.lr_gamma=0.3"],
])
def test_resume_under_a_schedule_is_bitwise_exact(schedule, tmp_path):
    straight = Trainer(tiny_config("train.steps=6", *schedule), tmp_path / "a").fit()
    Trainer(tiny_config("train.steps=3", *schedule), tmp_path / "b").fit()
    resumed = Trainer.resume(tmp_path / "b", ["train.steps=6"]).fit()
    for (k, a), b in zip(straight.nets.state_dict().items(), resumed.nets.state_dict().values()):
        assert torch.equal(a, b), k
    assert _rows(tmp_path / "a", "g/lr") == _rows(tmp_path / "b", "g/lr")


def test_old_checkpoint_configs_with_the_restorers_milestones_still_load(tmp_path):
    from pixelsmith.config import config_from_dict, upgrade_config

    old = {"model": {"name": "dncnn"}, "train": {"steps": 9},
           "objective": {"name": "restoration", "lr_milestones": [5], "lr_gamma": 0.5}}
    cfg = config_from_dict(upgrade_config(old))
    assert (cfg.train.lr_schedule, cfg.train.lr_milestones, cfg.train.lr_gamma) == \
        ("step", [5], 0.5)
    with pytest.raises(PixelsmithError, match="'objective.lr_milestones' is now "
                                              "'train.lr_milestones'"):
        config_from_dict(old)  # a config file gets told where the key went


# ----------------------------------------------------------------- sampling noise
def test_sample_noise_rows_do_not_depend_on_the_batch():
    noise = SampleNoise.fixed(5, seed=3)
    whole = noise.randn(2, 3)
    parts = torch.cat([noise[0:2].randn(2, 3), noise[2:5].randn(2, 3)])
    assert whole.shape == (5, 2, 3) and torch.equal(whole, parts)
    assert not torch.equal(whole[0], whole[1])  # rows have their own streams
    second = noise.randn(2, 3)  # a stream goes on: the next draw differs
    assert not torch.equal(second, whole) and torch.equal(noise.rand(1)[:, 0] >= 0,
                                                          torch.ones(5, dtype=torch.bool))
    assert torch.equal(noise.repeat_rows(3).seeds, noise.seeds.repeat_interleave(3))


@pytest.fixture(scope="module")
def stochastic_model(tiny_gan_run):
    """A trained tiny GAN whose sampler adds fresh noise from the per-row streams, as an
    ancestral sampler does at every step."""
    model = load_model(tiny_gan_run, device="cpu")
    plain = model.objective.sample

    def noisy(net, inputs, noise=None):
        x = plain(net, inputs)
        for _ in range(3):  # several draws per image, like several sampler steps
            x = x + 0.2 * noise.randn(*x.shape[1:])
        return x.clamp(-1, 1)

    model.objective.sample = noisy
    return model


def test_a_stochastic_sampler_gives_the_same_images_at_any_batch_size(stochastic_model,
                                                                      tmp_path):
    a = generate(stochastic_model, 10, seed=4, batch_size=3)
    b = generate(stochastic_model, 10, seed=4, batch_size=7)
    # equal up to float rounding (convolutions sum in another order at another batch size);
    # the noise alone moves pixels by ~0.35, so any mix-up of streams would show
    assert (a - b).abs().max() < 1e-5
    other = generate(stochastic_model, 10, seed=5, batch_size=3)
    assert (a - other).abs().mean() > 0.1
    from pixelsmith.data.image_files import read_image
    from pixelsmith.data.transforms import to_uint8

    folder = generate_to_folder(stochastic_model, 10, tmp_path / "f", seed=4, batch_size=4)
    files = torch.stack([read_image(folder / f"{i:06d}.png").pixels for i in range(10)])
    assert (files.int() - to_uint8(a).int()).abs().max() <= 1
    export(stochastic_model, 10, tmp_path / "e", seed=4, batch_size=6)
    exported = torch.stack([read_image(tmp_path / "e" / "samples" / f"{i:06d}.png").pixels
                            for i in range(10)])
    assert (exported.int() - to_uint8(a).int()).abs().max() <= 1


def test_a_checkpoint_from_before_the_trainers_schedule_resumes_at_the_right_rate(tmp_path):
    """Earlier checkpoints kept the restorer's milestones under objective.* and the already
    lowered rate in Adam's state, with no initial rate: resuming one past a milestone must
    not lower the rate twice."""
    over = [*RESTORER, "train.lr_schedule=step", "train.lr_milestones=[2]",
            "train.lr_gamma=0.1"]
    straight = Trainer(load_config(None, ["train.steps=5", *over]), tmp_path / "a").fit()
    Trainer(load_config(None, ["train.steps=3", *over]), tmp_path / "b").fit()
    ckpt = load_checkpoint(tmp_path / "b").path
    meta = json.loads((ckpt / "meta.json").read_text())  # as an earlier version wrote it
    train = meta["config"]["train"]
    meta["config"]["objective"].update(lr_milestones=train.pop("lr_milestones"),
                                       lr_gamma=train.pop("lr_gamma"))
    del train["lr_schedule"]
    (ckpt / "meta.json").write_text(json.dumps(meta))
    state = torch.load(ckpt / "train_state.pt", weights_only=True)
    for group in state["optimizers"]["restorer"]["param_groups"]:
        assert group["lr"] == pytest.approx(1e-4)  # lowered at the milestone, then saved
        del group["initial_lr"]
    del state["objective"]
    torch.save(state, ckpt / "train_state.pt")
    resumed = Trainer.resume(tmp_path / "b", ["train.steps=5"]).fit()
    assert _rows(tmp_path / "b", "restorer/lr")[-2:] == pytest.approx([1e-4, 1e-4])
    for (k, a), b in zip(straight.nets.state_dict().items(), resumed.nets.state_dict().values()):
        assert torch.equal(a, b), k


def test_sample_grids_draw_the_same_noise_every_time(tmp_path):
    tr = Trainer(tiny_config("train.steps=1"), tmp_path / "run")
    plain = tr.objective.sample
    tr.objective.sample = lambda net, inputs, noise=None: plain(net, inputs) + noise.randn(1)
    grids = []
    tr.log.grid = lambda step, images: grids.append(images)
    tr.sample_grid()
    tr.sample_grid()
    assert torch.equal(grids[0], grids[1])


def test_a_loaded_model_is_told_its_checkpoints_step(tiny_gan_run):
    model = load_model(tiny_gan_run, device="cpu")
    assert (model.objective.step, model.objective.images_seen) == (2, 32)


def test_what_an_objective_keeps_is_saved_and_restored(tmp_path):
    from pixelsmith.objectives.gan import GanObjective, GanObjectiveConfig
    from pixelsmith.registry import OBJECTIVES

    class Counting(GanObjective):  # e.g. an adaptive augmentation probability
        def begin_step(self, step, images_seen):
            super().begin_step(step, images_seen)
            self.p = getattr(self, "p", torch.tensor(0.0)) + 0.5

        def state_dict(self):
            return {"p": self.p}

        def load_state_dict(self, state):
            self.p = state["p"].clone()

    OBJECTIVES.register("test-counting", config=GanObjectiveConfig)(Counting)
    try:
        cfg = ["objective.name=test-counting"]
        Trainer(tiny_config("train.steps=2", *cfg), tmp_path / "run").fit()
        state = load_checkpoint(tmp_path / "run").train_state()
        assert torch.equal(state["objective"]["p"], torch.tensor(1.0))
        resumed = Trainer.resume(tmp_path / "run", ["train.steps=3"])
        assert torch.equal(resumed.objective.p, torch.tensor(1.0))
        resumed.fit()
        assert torch.equal(resumed.objective.p, torch.tensor(1.5))
    finally:
        OBJECTIVES._entries.pop("test-counting")


def test_exporting_a_model_that_cannot_sample_leaves_no_folder(tmp_path):
    Trainer(load_config(None, [*RESTORER, "train.steps=1"]), tmp_path / "run").fit()
    model = load_model(tmp_path / "run", device="cpu")
    with pytest.raises(PixelsmithError, match="does not make images from noise"):
        export(model, 4, tmp_path / "out")
    with pytest.raises(PixelsmithError, match="does not make images from noise"):
        generate_to_folder(model, 4, tmp_path / "folder")
    assert not (tmp_path / "out").exists() and not (tmp_path / "folder").exists()
