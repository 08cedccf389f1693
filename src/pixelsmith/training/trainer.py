"""The one training loop. It runs the phases an objective declares and owns everything
around them: device, precision, learning-rate schedule, EMA, logging, sample grids,
checkpoints, exact resume. It is the same loop for every kind of model: data come from
``make_batches``, the objective is told the step (``begin_step``) and lays out its own grids,
and extras such as evaluation during training are callbacks (``add_callback``), attached by
``api.train``."""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import torch

import pixelsmith
from pixelsmith.config import Config, config_to_dict, save_config
from pixelsmith.config.resolve import config_from_dict, upgrade_config
from pixelsmith.data.batches import make_batches
from pixelsmith.data.transforms import from_uint8
from pixelsmith.devices import resolve_device
from pixelsmith.errors import PixelsmithError, first_line
from pixelsmith.models import build_model
from pixelsmith.objectives import Objective, SampleNoise
from pixelsmith.registry import OBJECTIVES
from pixelsmith.training import compiled
from pixelsmith.training import distributed as dist
from pixelsmith.training.checkpoint import (
    STATE_FILE,
    Checkpoint,
    load_checkpoint,
    load_nets,
    read_pointer,
    require_finite,
    save_checkpoint,
)
from pixelsmith.training.ema import EMA
from pixelsmith.training.progress import TrainProgress
from pixelsmith.training.run_log import RunLog, save_grid
from pixelsmith.training.schedule import LRSchedule

EVENTS = ("on_step_end", "on_log", "on_sample", "on_checkpoint", "on_train_end")
# a weight this large has run away (a healthy net's are far below 100): the run is stopped
# at the next log row or checkpoint, as for a NaN, before it saves garbage
WEIGHT_LIMIT = 1e6


def micro_batches(batch, k: int) -> list:
    """``batch`` cut into ``k`` equal parts along the rows (every tensor field; the trainer
    checks that the rows divide); k = 1: the batch itself."""
    if k == 1:
        return [batch]
    n = batch.x.shape[0] // k
    fields = dataclasses.fields(batch)
    return [dataclasses.replace(batch, **{
        f.name: v[i * n : (i + 1) * n] for f in fields
        if torch.is_tensor(v := getattr(batch, f.name))}) for i in range(k)]


class Trainer:
    def __init__(self, cfg: Config, run_dir: str | Path, *, resume: Checkpoint | None = None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        if t.steps < 0 or t.batch_size < 1:
            raise PixelsmithError("train.steps must be >= 0 and train.batch_size >= 1")
        self.schedule = LRSchedule(t)  # checks its keys before any data is read
        # every rank seeds alike: equal nets, lockstep noise streams (training/distributed.py)
        self.dist = dist.init_distributed(t.device)
        if t.batch_size % self.dist.world_size:
            raise PixelsmithError(f"train.batch_size {t.batch_size} (the global batch) must be "
                                  f"divisible by the {self.dist.world_size} processes")
        if t.batch_size % (self.dist.world_size * t.accumulate):
            raise PixelsmithError(f"train.batch_size {t.batch_size} must be divisible by "
                                  f"train.accumulate {t.accumulate} x {self.dist.world_size} "
                                  "processes (equal micro-batches)")
        torch.manual_seed(t.seed)
        self.device = dist.rank_device(resolve_device(t.device, "train.device"), self.dist)
        self.bf16 = t.precision == "bf16" or (t.precision == "auto" and self.device.type == "cuda")
        if self.device.type == "cuda":  # fixed shapes every step: let cuDNN pick its fastest
            torch.backends.cudnn.benchmark = True

        shard = (self.dist.rank, self.dist.world_size)  # each rank: its slice of the batch
        self.batches = make_batches(cfg.data, batch_size=t.batch_size, seed=t.seed + 1,
                                    device=self.device, channels_last=t.channels_last,
                                    shard=shard)
        self.info = self.batches.info
        self.nets = build_model(cfg.model, img_size=self.info.img_size,
                                img_channels=self.info.img_channels,
                                num_classes=self.info.num_classes).to(self.device)
        if self.dist.enabled:
            dist.broadcast_module(self.nets)
        # where ranks wait while rank 0 alone works (evaluation, the last checkpoint): a
        # barrier with a long timeout, created now, at the same point on every rank
        self.wait_group = dist.waiting_group(self.dist)
        if t.channels_last:
            self.nets.to(memory_format=torch.channels_last)
        self.objective: Objective = OBJECTIVES.get(cfg.objective.name)(
            cfg.objective, self.nets, self.info, self.device, shard=shard)
        self.objective.sample_graphs = False  # grids and evaluations sample eagerly
        self.phases = self.objective.phases()
        for phase in self.phases:
            LRSchedule.remember_initial(phase.optimizer)
        sample_net = self.nets[self.objective.sample_module]
        self.ema = EMA(sample_net, t.ema_decay, t.ema_start) if t.ema_decay > 0 else None
        # fixed inputs (and noise streams) for the sample grids, from their own generator:
        # the same grid every time; the objective lays it out (one class per column, ...)
        grid_gen = torch.Generator().manual_seed(t.seed + 2)
        self.fixed_inputs = self.objective.grid_inputs(
            t.num_samples, grid_gen, self.batches.first_images(t.num_samples))
        self.fixed_noise = SampleNoise.draw(t.num_samples, grid_gen)
        self.step, self.images_seen = 0, 0
        self.callbacks: dict[str, list[Callable]] = defaultdict(list)
        self.evaluating = False  # set by the evaluation callback (train.eval_every)
        self.log = RunLog(self.run_dir, enabled=self.dist.is_main)  # only rank 0 writes
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}  # per key: a phase may run several times a step
        # Ctrl-C: the signal handler sets _stop_requested on the rank that got it; the loop
        # ends on _stop, which all ranks agree on at a log row (one process: at once)
        self._stop_requested = False
        self._stop = False
        if resume is not None:
            self._load(resume)
            note = self.log.repair(self.step)  # a torn last line or rows past the checkpoint
            if note:
                print(f"note: {note}", file=sys.stderr)
        self._compile_check = t.compile and compiled.compile_networks(
            self.nets, t.compile_nets, t.compile_mode)
        self._graphs = self._compile_check and t.compile_mode == "reduce-overhead" and hasattr(
            torch.compiler, "cudagraph_mark_step_begin")

    # ----------------------------------------------------------------- public
    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] = ()) -> Trainer:
        """Continue a run from its last checkpoint (``--set`` may extend ``train.steps``)."""
        from pixelsmith.config import apply_overrides

        ckpt = load_checkpoint(run_dir)
        cfg = config_from_dict(apply_overrides(upgrade_config(ckpt.config), list(overrides)))
        return cls(cfg, Path(run_dir), resume=ckpt)

    def add_callback(self, event: str, fn: Callable[[Trainer], None]) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; one of {EVENTS}")
        self.callbacks[event].append(fn)

    def fit(self) -> Trainer:
        t = self.cfg.train
        main = self.dist.is_main
        if t.eval_every and not self.evaluating and main:
            warnings.warn("train.eval_every is set but no evaluation is attached to this "
                          "Trainer; train with pixelsmith.api.train (or the CLI), or call "
                          "pixelsmith.metrics.training_eval.attach_evaluation(trainer)",
                          stacklevel=2)
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.cfg, self.run_dir / "config.yaml")
        if self.step == 0 and main:
            reals = from_uint8(self.batches.first_images(t.num_samples))
            save_grid(reals, self.run_dir / "reals.png")  # no batch drawn: data order untouched
        for net in self.nets.values():
            net.train()
        restore = self._catch_interrupt()
        progress = TrainProgress(t.steps, self.step, enabled=t.progress and main)
        t_last, img_last = time.perf_counter(), self.images_seen
        try:
            with progress:
                while self.step < t.steps and not self._stop:
                    self._train_step()
                    self.step += 1
                    progress.advance()
                    self._fire("on_step_end")
                    if not self.dist.enabled:  # nobody to agree with: stop after this step
                        self._stop = self._stop_requested
                    if self.step % t.log_every == 0 or self.step == t.steps:
                        now = time.perf_counter()
                        rate = (self.images_seen - img_last) / max(now - t_last, 1e-9)
                        t_last, img_last = now, self.images_seen
                        values = self._flush_losses() | {"train/img_per_s": rate}
                        self._check_weights()
                        # a Ctrl-C reaches the ranks at different steps (or only one of
                        # them): all stop here together, or a rank that left early would
                        # leave the others waiting in the next all_reduce
                        self._stop = dist.any_rank(self._stop_requested, self.device, self.dist)
                        self.log.scalars(self.step, values)
                        progress.show(values)
                        self._fire("on_log")
                    if t.sample_every and self.step % t.sample_every == 0:
                        self.sample_grid()
                    if t.checkpoint_every and self.step % t.checkpoint_every == 0:
                        self.save()
        finally:
            restore()
            self.batches.close()  # streamed data: the feeder thread and its workers end here
        try:
            self._finish(progress)
        finally:
            # ranks leave together, also when rank 0's last save fails: one that tore its
            # process group down while rank 0 still wrote was seen to abort at exit (gloo)
            dist.wait_together(self.wait_group)
        return self

    def _finish(self, progress: TrainProgress) -> None:
        """After the loop: the last grid and checkpoint, the curves, on_train_end."""
        t, main = self.cfg.train, self.dist.is_main
        if self._stop:
            self.save()
            if main:
                progress.console.print(
                    f"stopped at step {self.step}; checkpoint saved. "
                    f"Resume with: pixelsmith train --resume {self.run_dir}")
        else:
            if not t.sample_every or self.step % t.sample_every:
                self.sample_grid()
            if not t.checkpoint_every or self.step % t.checkpoint_every:
                self.save()
        from pixelsmith.training.plots import plot_curves

        # also when stopped early: the curves so far are what a person looks at first
        if main:
            plot_curves(self.run_dir / "metrics.jsonl", self.run_dir / "loss_curves.png")
        self._fire("on_train_end")
        self.log.close()

    @torch.no_grad()
    def sample_grid(self) -> Path:
        if not self.dist.is_main:  # the grid is rank 0's to draw and write
            return self.run_dir / "samples" / f"step_{self.step:07d}.png"
        net = self.sampling_net()
        was_training = net.training
        net.eval()
        # a sampler that touched the global RNG here (rank 0 only) would put the ranks'
        # lockstep noise streams out of step: it gets a forked RNG. Slicing the fixed noise
        # restarts its streams, so every grid (and a resumed run's) draws the same noise.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            images = self.objective.sample(net, self.fixed_inputs, self.fixed_noise[:])
        net.train(was_training)
        path = self.log.grid(self.step, images)
        self._fire("on_sample")
        return path

    def sampling_net(self) -> torch.nn.Module:
        return self.ema.net if self.ema is not None else self.nets[self.objective.sample_module]

    def save(self) -> Path:
        """Write a checkpoint (rank 0 only; other ranks get the path it goes to)."""
        if not self.dist.is_main:
            return self.run_dir / "checkpoints"
        self._check_weights()
        path = save_checkpoint(
            self.run_dir / "checkpoints", self.step, nets=dict(self.nets.items()),
            ema=None if self.ema is None else self.ema.net,
            ema_name=self.objective.sample_module, train_state=self._train_state(),
            meta=self._meta())
        self._fire("on_checkpoint")
        return path

    def train_step(self) -> None:
        """One optimisation step without logging or saving (benchmarks, notebooks)."""
        self._train_step()
        self.step += 1

    # ---------------------------------------------------------------- internals
    def _train_step(self) -> None:
        dist.maybe_crash(self.dist, self.step)
        if not self._compile_check:
            return self._run_phases()
        # the first compiled step: compilation errors surface here (lazily). Then go back
        # to the state before the step and run it eagerly, so a failed compile costs a
        # warning and the compile time, never a different run.
        self._compile_check = False
        before = compiled.snapshot(self)
        try:
            self._run_phases()
        except Exception as e:  # noqa: BLE001 - any compiler failure falls back to eager
            compiled.restore(self, before)
            compiled.uncompile(self.nets)
            self._graphs = False
            warnings.warn(f"train.compile: compiling the networks failed, training eagerly "
                          f"({type(e).__name__}: {str(e).splitlines()[0][:200]})", stacklevel=2)
            self._run_phases()

    def _run_phases(self) -> None:
        if self._graphs:  # CUDA-graph trees: one training iteration starts here
            torch.compiler.cudagraph_mark_step_begin()
        self.objective.begin_step(self.step, self.images_seen)
        for phase in self.phases:  # also when constant: a resumed run gets its initial rate
            self.schedule.apply(phase.optimizer, self.step)
        batch = None
        for phase in self.phases:
            if self.step % phase.interval:
                continue
            for name, net in self.nets.items():
                net.requires_grad_(name in phase.modules)
            for _ in range(phase.repeats):
                if phase.fresh_batch or batch is None:
                    batch = self.batches.next()
                    # real images drawn by all ranks: img/s
                    self.images_seen += batch.x.shape[0] * self.dist.world_size
                phase.optimizer.zero_grad(set_to_none=True)
                # train.accumulate: the batch in equal micro-batches, their gradients summed
                # (each loss a mean over its part, so divided by k): one step as on the
                # whole batch, with 1/k of the activation memory
                k = self.cfg.train.accumulate
                for part in micro_batches(batch, k):
                    with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                        enabled=self.bf16):
                        losses = phase.loss(part)
                    (losses["loss"] / k if k > 1 else losses["loss"]).backward()
                    self._accumulate(phase.name, losses)  # logged: the mean over the parts
                if self.dist.enabled:  # each rank's loss is its slice's mean: average them
                    dist.average_gradients(
                        [p for m in phase.modules for p in self.nets[m].parameters()],
                        self.dist.world_size)
                phase.optimizer.step()
                if phase.after_step is not None:
                    phase.after_step()
                if self.schedule.active and "lr" not in losses:  # the rate in use, logged
                    self._accumulate(phase.name, {"lr": phase.optimizer.param_groups[0]["lr"]})
        for net in self.nets.values():
            net.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.nets[self.objective.sample_module], self.step)

    def _accumulate(self, phase: str, losses: dict[str, torch.Tensor | float]) -> None:
        # tensors summed on the device: no host synchronisation until the next log row;
        # plain numbers (a learning rate, a schedule's weight) summed on the host
        for k, v in losses.items():
            key = f"{phase}/{k}"
            v = v.detach().float() if torch.is_tensor(v) else torch.tensor(v, dtype=torch.float32)
            self._sums[key] = self._sums[key] + v if key in self._sums else v
            self._counts[key] = self._counts.get(key, 0) + 1

    def _flush_losses(self) -> dict[str, float]:
        if not self._sums:
            return {}
        keys = list(self._sums)
        counts = torch.tensor([self._counts[k] for k in keys], dtype=torch.float32)
        sums = dist.all_mean(torch.stack([self._sums[k].to(self.device) for k in keys]),
                             self.dist)
        means = (sums.cpu() / counts).tolist()
        bad = [k for k, v in zip(keys, means) if v != v or abs(v) == float("inf")]
        self._sums, self._counts = {}, {}
        if bad:
            raise PixelsmithError(f"loss {bad[0]} became NaN/inf before step {self.step}; "
                                  f"{self._last_good()} (try a lower learning rate)")
        return dict(zip(keys, means))

    def _last_good(self) -> str:
        """Where the run can go on from, truthfully: the newest checkpoint, or none."""
        root = self.run_dir / "checkpoints"
        try:
            last = read_pointer(root, "last.json")
        except PixelsmithError:
            last = None
        if last is None:
            return f"no checkpoint was written, {root} holds none"
        return f"the last good checkpoint, step {last.get('step', '?')} in {root}, is intact"

    def _check_weights(self) -> None:
        """Stop a diverged run: NaN/inf weights, or weights past WEIGHT_LIMIT (a learning
        rate far too high drives them to 1e30 while the losses still look like numbers).
        One host sync, at log rows and before each checkpoint."""
        nets = dict(self.nets.items())
        if self.ema is not None:
            nets["ema"] = self.ema.net
        for name, net in nets.items():
            params = [t.detach() for t in net.parameters() if t.is_floating_point()]
            buffers = [t for t in net.buffers() if t.is_floating_point()]
            if not params and not buffers:
                continue
            finite = torch.stack([t.isfinite().all() for t in (*params, *buffers)]).all()
            peak = torch.stack([t.abs().amax() for t in params if t.numel()] or
                               [torch.zeros((), device=self.device)]).max()
            finite, peak = finite.item(), peak.item()  # one sync for both
            if not finite or peak > WEIGHT_LIMIT:
                what = "became NaN/inf" if not finite else (
                    f"ran away (largest {peak:.3g}, over the limit {WEIGHT_LIMIT:g})")
                raise PixelsmithError(
                    f"weights of '{name}' {what} by step {self.step}: training diverged; no "
                    f"checkpoint written for it, {self._last_good()} (try a lower learning rate)")

    def _fire(self, event: str) -> None:
        for fn in self.callbacks[event]:
            fn(self)

    def _catch_interrupt(self) -> Callable[[], None]:
        """First Ctrl-C finishes the current step (several ranks: up to the next log row),
        saves and stops; a second one aborts."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True  # acted on after the step (all ranks: at a log row)

        signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)

    def _train_state(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "batches": self.batches.state_dict()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "optimizers": {p.name: p.optimizer.state_dict() for p in self.phases},
            "objective": self.objective.state_dict(),
            "rng": rng,
            "counters": {"step": self.step, "images_seen": self.images_seen},
        }

    def _meta(self) -> dict:
        return {
            "images_seen": self.images_seen,
            "config": config_to_dict(self.cfg),
            "sample_module": self.objective.sample_module,
            "data": {"source": self.batches.source, "num_classes": self.info.num_classes,
                     "class_names": self.batches.class_names},
            "versions": {"pixelsmith": pixelsmith.__version__, "torch": torch.__version__},
        }

    def _load(self, ckpt: Checkpoint) -> None:
        require_finite(ckpt.model, ckpt.path)
        load_nets(dict(self.nets.items()), ckpt.model, ckpt.path)
        if self.ema is not None:
            if ckpt.ema is None:  # EMA switched on at resume: start it from the weights
                self.ema.net.load_state_dict(self.nets[self.objective.sample_module].state_dict())
            else:
                load_nets({self.objective.sample_module: self.ema.net}, ckpt.ema, ckpt.path)
        state = ckpt.train_state()  # its shape checked: checkpoint.check_train_state
        for phase in self.phases:
            if phase.name not in state["optimizers"]:
                raise PixelsmithError(f"{ckpt.path}: no optimizer state for phase '{phase.name}'")
        try:  # the contents (tensor shapes, parameter groups) are checked by torch itself
            for phase in self.phases:
                initial = [g["initial_lr"] for g in phase.optimizer.param_groups]
                phase.optimizer.load_state_dict(state["optimizers"][phase.name])
                # checkpoints from before the trainer's schedule hold the decayed rate and
                # no initial one: the config's initial rate is the base (not the decayed rate)
                for group, lr0 in zip(phase.optimizer.param_groups, initial):
                    group.setdefault("initial_lr", lr0)
            self.objective.load_state_dict(state.get("objective", {}))
            torch.set_rng_state(state["rng"]["torch"])
            if "cuda" in state["rng"] and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
            self.batches.load_state_dict(state["rng"]["batches"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
            first = first_line(e, 160)
            raise PixelsmithError(f"{ckpt.path / STATE_FILE}: damaged, it does not fit this "
                                  f"run ({type(e).__name__}: {first})") from None
        self.step = state["counters"]["step"]
        self.images_seen = state["counters"]["images_seen"]
