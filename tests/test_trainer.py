import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import tiny_config
from pixelsmith.training import Trainer
from pixelsmith.training.checkpoint import load_checkpoint


def weights(run_dir):
    ckpt = load_checkpoint(run_dir)
    return ckpt.model, ckpt.ema


def test_run_folder_has_everything_a_user_looks_for(tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_config("train.steps=4"), run).fit()
    assert (run / "config.yaml").is_file()
    assert (run / "reals.png").is_file() and (run / "loss_curves.png").is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_0000002.png", "step_0000004.png"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert {"d/loss", "g/loss", "d/real_logit", "train/img_per_s"} <= set(rows[0])
    # only the newest checkpoint is kept, and last.json points at it
    ckpt_root = run / "checkpoints"
    assert json.loads((ckpt_root / "last.json").read_text())["step"] == 4
    assert sorted(p.name for p in ckpt_root.iterdir()) == ["last.json", "step_0000004"]


def test_tensorboard_event_file_holds_scalars_and_images(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    Trainer(tiny_config("train.steps=2"), run).fit()
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert {"d/loss", "g/loss"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("g/loss")] == [1, 2]
    assert "samples" in acc.Tags()["images"]


def test_training_changes_weights_and_losses_are_finite(tmp_path):
    trainer = Trainer(tiny_config("train.steps=3"), tmp_path / "run")
    before = {k: v.clone() for k, v in trainer.nets.state_dict().items()}
    trainer.fit()
    after = trainer.nets.state_dict()
    changed = [k for k in before if before[k].dtype.is_floating_point
               and not torch.equal(before[k], after[k])]
    assert any(k.startswith("generator.") for k in changed)
    assert any(k.startswith("discriminator.") for k in changed)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_is_exact(tmp_path, ema):
    extra = [f"train.ema_decay={ema}", "train.ema_start=1"]
    straight = tmp_path / "straight"
    Trainer(tiny_config("train.steps=6", *extra), straight).fit()

    split = tmp_path / "split"
    Trainer(tiny_config("train.steps=3", *extra), split).fit()
    Trainer.resume(split, ["train.steps=6"]).fit()

    model_a, ema_a = weights(straight)
    model_b, ema_b = weights(split)
    assert model_a.keys() == model_b.keys()
    for k in model_a:
        assert torch.equal(model_a[k], model_b[k]), k
    if ema:
        assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)
    # optimizer moments too, not only the weights
    sa = load_checkpoint(straight).train_state()["optimizers"]
    sb = load_checkpoint(split).train_state()["optimizers"]
    for phase in ("d", "g"):
        for pid, st in sa[phase]["state"].items():
            assert torch.equal(st["exp_avg_sq"], sb[phase]["state"][pid]["exp_avg_sq"])


def test_ema_weights_are_saved_separately_and_differ(tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_config("train.steps=4", "train.ema_decay=0.5"), run).fit()
    ckpt_dir = load_checkpoint(run).path
    ema = load_file(str(ckpt_dir / "ema.safetensors"))
    model = load_file(str(ckpt_dir / "model.safetensors"))
    key = "generator.project.weight"
    assert key in ema and not torch.equal(ema[key], model[key])


def test_callbacks_fire(tmp_path):
    trainer = Trainer(tiny_config("train.steps=2"), tmp_path / "run")
    seen = []
    trainer.add_callback("on_step_end", lambda t: seen.append(("step", t.step)))
    trainer.add_callback("on_checkpoint", lambda t: seen.append(("ckpt", t.step)))
    trainer.fit()
    assert seen == [("step", 1), ("step", 2), ("ckpt", 2)]


def test_nan_loss_stops_with_clear_error(tmp_path):
    from pixelsmith.errors import PixelsmithError

    trainer = Trainer(tiny_config("train.steps=3"), tmp_path / "run")
    with torch.no_grad():
        trainer.nets["discriminator"].head.weight.fill_(float("nan"))
    with pytest.raises(PixelsmithError, match="became NaN/inf before step 1"):
        trainer.fit()


def test_nan_weights_are_never_checkpointed(tmp_path):
    from pixelsmith.errors import PixelsmithError

    run = tmp_path / "run"
    # logs rarely, checkpoints every step: the save itself must refuse NaN weights
    Trainer(tiny_config("train.steps=2", "train.log_every=100", "train.checkpoint_every=1"),
            run).fit()
    good = load_checkpoint(run)
    trainer = Trainer.resume(run, ["train.steps=4"])
    with torch.no_grad():
        trainer.nets["generator"].project.weight.fill_(float("nan"))
    with pytest.raises(PixelsmithError, match="weights of 'generator' became NaN/inf by step 3"):
        trainer.fit()
    after = load_checkpoint(run)
    assert after.path == good.path and after.meta["step"] == 2
    assert all(torch.isfinite(v).all() for v in after.model.values() if v.is_floating_point())


def test_ctrl_c_finishes_the_step_saves_and_resumes(tmp_path):
    import os
    import signal

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN under nohup / a background job
    run = tmp_path / "run"
    trainer = Trainer(tiny_config("train.steps=6", "train.checkpoint_every=0"), run)

    def interrupt(t):
        if t.step == 3:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, caught by the trainer

    trainer.add_callback("on_step_end", interrupt)
    trainer.fit()
    assert trainer.step == 3
    assert load_checkpoint(run).meta["step"] == 3
    assert (run / "loss_curves.png").is_file()
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is restored
    Trainer.resume(run).fit()
    assert load_checkpoint(run).meta["step"] == 6


def test_logged_losses_are_means_over_every_phase_run(tmp_path):
    # with n_critic=3 the D phase runs 3 times a step: its logged loss is the mean of all
    # 6 runs in a 2-step log row, not their sum divided by the number of steps
    run = tmp_path / "run"
    trainer = Trainer(tiny_config("train.steps=2", "train.log_every=2", "objective.n_critic=3"),
                      run)
    d_phase = trainer.phases[0]
    seen, original = [], d_phase.loss

    def recording(batch):
        losses = original(batch)
        seen.append(losses["loss"].item())
        return losses

    d_phase.loss = recording
    trainer.fit()
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert len(seen) == 6
    assert row["d/loss"] == pytest.approx(sum(seen) / 6, rel=1e-5)
