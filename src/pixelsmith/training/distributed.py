"""Data-parallel training across processes (torchrun, ``accelerate launch``, or any launcher
that sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT).

The design, in one place:

- ``train.batch_size`` is the GLOBAL batch. Every rank draws the same shuffled global batch
  (same permutation generator, same seed) and keeps its slice ``rank * b : (rank + 1) * b``
  with ``b = batch_size / world_size``, so N processes see exactly the images one would.
- Every rank seeds the global torch RNG with the same ``train.seed``: networks start equal,
  and per-sample noise drawn through ``Objective.randn`` / ``Objective.rand`` is the rank's
  slice of the noise one process would draw for the global batch. So the noise differs
  between ranks (each rank's images get their own z) and N ranks reproduce one process.
- Gradients are averaged after each phase's backward with one coalesced all_reduce of the
  phase's gradients (``average_gradients``). We do not wrap the nets in DDP: the GAN phases
  toggle requires_grad, the gradient penalty needs create_graph, and D runs several times
  per step with G frozen; DDP's bucket hooks and unused-parameter bookkeeping are fragile
  under all three. One explicit all_reduce per phase is the same communication, honestly.
- Only rank 0 writes (checkpoints, metrics.jsonl, TensorBoard, grids, progress, metrics).
- A dead rank ends the run: torchrun tears the group down when a worker exits non-zero, and
  every collective has a timeout (``PIXELSMITH_DIST_TIMEOUT`` seconds, default 600) for the
  launchers that do not.
- Evaluation during training runs on rank 0 alone; the others wait for it in a barrier of
  a separate gloo group with its own, long timeout (``PIXELSMITH_WAIT_TIMEOUT`` seconds,
  default 7200), so a long evaluation does not trip the collective timeout. At the end of
  training all ranks meet there too, after rank 0's last checkpoint, before tearing down.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pixelsmith.errors import PixelsmithError

# test-only: "RANK:STEP" makes that rank raise at that step (tests/test_distributed.py
# checks that a crashed rank ends the whole run instead of hanging)
CRASH_ENV = "PIXELSMITH_TEST_CRASH"
TIMEOUT_ENV = "PIXELSMITH_DIST_TIMEOUT"
WAIT_TIMEOUT_ENV = "PIXELSMITH_WAIT_TIMEOUT"


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """What the launcher told this process (one process when nothing is set)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as e:
        raise PixelsmithError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers ({e})") from None
    if world < 1 or not 0 <= rank < world:
        raise PixelsmithError(f"bad launcher environment: RANK={rank} WORLD_SIZE={world}")
    return DistInfo(rank, world, local)


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when launched with more than one process (idempotent).
    gloo on CPU, nccl on CUDA; every collective gets the timeout."""
    info = env_info()
    if not info.enabled or dist.is_initialized():
        return info
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if torch.cuda.device_count() <= info.local_rank:
            raise PixelsmithError(f"LOCAL_RANK {info.local_rank} has no CUDA device "
                                  f"({torch.cuda.device_count()} visible)")
        torch.cuda.set_device(info.local_rank)
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "600")))
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
    return info


def rank_device(device: torch.device, info: DistInfo) -> torch.device:
    """With several ranks on CUDA, rank r trains on cuda:LOCAL_RANK."""
    if info.enabled and device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def average_gradients(params, world_size: int) -> None:
    """Average ``.grad`` of ``params`` over ranks: one flat buffer, one all_reduce."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(world_size)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def all_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``t`` over ranks (``t`` itself with one process)."""
    if not info.enabled:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / info.world_size


def any_rank(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """True when ``flag`` is true on some rank (all ranks must call it together)."""
    if not info.enabled:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def waiting_group(info: DistInfo):
    """A gloo group whose barrier waits up to ``PIXELSMITH_WAIT_TIMEOUT`` seconds (default
    7200), for ranks that wait while rank 0 alone works (evaluation, the last checkpoint).
    None with one process.
    Creating a group is itself collective: call it on every rank at the same point (startup),
    never when one rank is busy. gloo also under nccl: its barrier honours the group timeout
    and needs no GPU."""
    if not info.enabled:
        return None
    try:
        seconds = float(os.environ.get(WAIT_TIMEOUT_ENV, "7200"))
    except ValueError:
        raise PixelsmithError(f"{WAIT_TIMEOUT_ENV} must be a number of seconds") from None
    return dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=seconds))


def wait_together(group) -> None:
    """All ranks meet here (nothing with one process, where ``group`` is None)."""
    if group is not None:
        dist.barrier(group=group)


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank (e.g. the run folder name, which holds a timestamp)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_module(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (equal starts, whatever the RNG)."""
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=0)


def maybe_crash(info: DistInfo, step: int) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    rank, at = (int(v) for v in spec.split(":"))
    if info.rank == rank and step == at:
        raise RuntimeError(f"{CRASH_ENV}={spec}: rank {rank} crashes at step {step} (test only)")


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
