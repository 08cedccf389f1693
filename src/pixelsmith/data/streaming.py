"""Training on sets larger than memory: shards decoded by DataLoader workers, shuffled in a
bounded buffer, in an order that is a pure function of (seed, epoch, number of ranks).
What is read (packed shards, a folder) is data/stream_sets.py.

The order, for epoch ``e`` with ``W`` ranks (the same in every process, computed, never
communicated):

1. the shards are permuted by ``(seed, e)`` and laid end to end: a sequence of all N
   pictures (each shard in its stored order, which ``data pack`` already shuffled);
2. rank ``r`` takes the contiguous slots ``[r*N//W, (r+1)*N//W)`` of it: the ranks cover
   the set once per epoch, with no duplicates; a rank reads whole shards except at the two
   ends of its range;
3. the rank's slots are cut into windows of ``data.shuffle_buffer`` pictures; each window's
   slots are permuted by ``(seed, e, W, r, window)`` (unreadable files' slots dropped) and
   drained in batches of ``batch_size / W``.

Workers split the rank's pieces (shard ranges) round robin, decode them and hand them over
in chunks; a feeder thread puts chunks back in slot order (so the order does not depend on
``data.workers``) and copies each into its permuted place in the next window while the
step drains the current one. The position (epoch, window, pictures taken) is the whole
state, saved in checkpoints: resume restarts the workers at the window and skips what was
taken. ``close()`` stops the feeder and the workers (the trainer calls it when ``fit``
ends); the position is kept, and the next ``next()`` starts them again.

Memory: two windows, the one being drained (on the training device) and the next one
being filled (host, pinned on CUDA), + each worker's shard being decoded and 2 chunks per
worker in flight.
"""

from __future__ import annotations

import atexit
import hashlib
import queue
import signal
import threading
import warnings
import weakref

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from pixelsmith.data.base import Batch
from pixelsmith.data.transforms import from_uint8
from pixelsmith.errors import PixelsmithError

CHUNK = 256  # pictures per item a worker hands over (bounds the shared memory in flight)
SHOW_SKIPPED = 5
JOIN_TIMEOUT_S = 60  # close(): the feeder finishes the chunk it waits for (a shard's decode)


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8],
                          "little") & (2**63 - 1)


def rank_range(total: int, rank: int, world: int) -> tuple[int, int]:
    return rank * total // world, (rank + 1) * total // world


def rank_pieces(counts: list[int], seed: int, epoch: int, rank: int,
                world: int) -> list[tuple[int, int, int]]:
    """Rank ``rank``'s (shard, lo, hi) ranges for ``epoch``, in reading order."""
    perm = torch.randperm(len(counts), generator=torch.Generator().manual_seed(
        _seed(seed, "shards", epoch))).tolist()
    a, b = rank_range(sum(counts), rank, world)
    pieces, pos = [], 0
    for s in perm:
        lo, hi = max(a, pos), min(b, pos + counts[s])
        if lo < hi:
            pieces.append((s, lo - pos, hi - pos))
        pos += counts[s]
        if pos >= b:
            break
    return pieces


class PieceStream(IterableDataset):
    """What the DataLoader workers run: from (epoch, slot) on, worker w of n decodes the
    rank's pieces k = w, w + n, ... and yields them in chunks tagged with their slots."""

    def __init__(self, coll, seed: int, rank: int, world: int, epoch: int, slot: int):
        self.coll, self.seed, self.rank, self.world = coll, seed, rank, world
        self.epoch, self.slot = epoch, slot

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        k, epoch, start = 0, self.epoch, self.slot
        while True:
            slot = 0
            for shard, lo, hi in rank_pieces(self.coll.counts, self.seed, epoch, self.rank,
                                             self.world):
                if slot + hi - lo <= start:
                    slot += hi - lo
                    continue
                if slot < start:
                    lo, slot = lo + start - slot, start
                if k % nw == wid:
                    try:
                        x, c, keep, failed = self.coll.read(shard, lo, hi)
                    except PixelsmithError as e:  # raised in the main process, one line
                        yield {"error": str(e)}
                        return
                    done = 0  # kept pictures before the chunk
                    for a in range(0, hi - lo, CHUNK):
                        kp = keep[a : a + CHUNK]
                        m = int(kp.sum())
                        yield {"epoch": epoch, "slot": slot + a, "keep": kp.clone(),
                               "x": x[done : done + m].clone(),
                               "c": None if c is None else c[done : done + m].clone(),
                               "failed": failed if a == 0 else []}
                        done += m
                k += 1
                slot += hi - lo
            epoch, start = epoch + 1, 0


def _ignore_sigint(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the trainer (which saves and stops); they end
    when the feeder shuts them down, without a traceback each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Stopped(Exception):
    pass


_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_feeders() -> None:
    """Let feeders finish the piece they decode before the interpreter goes: a daemon thread
    stopped inside a torch call aborts the process ("terminate called ...")."""
    feeders = list(_LIVE)
    for f in feeders:
        f.stop.set()
    for f in feeders:
        f.join(timeout=10)


class _Feeder(threading.Thread):
    """Assembles the next window while the trainer drains the current one: pulls chunks
    from the DataLoader iterator (started in the main thread), puts them back in slot order,
    copies each into its permuted place in a (pinned) window and hands it over. At most one
    window waits here, so the workers decode window k+1 while the step trains on window k.
    It holds the iterator, not the batch source: a source nobody uses can be collected."""

    def __init__(self, it, epoch: int, window: int, *, buffer: int, length: int, seed: int,
                 rank: int, world: int, pin: bool):
        super().__init__(daemon=True)
        self.it, self.epoch, self.window = it, epoch, window
        self.buffer, self.length, self.seed = buffer, length, seed
        self.rank, self.world, self.pin = rank, world, pin
        self.out: queue.Queue = queue.Queue()
        self.taken = threading.Semaphore(0)  # released by the main thread per window taken
        self.stop = threading.Event()
        self.held: dict[tuple[int, int], dict] = {}
        _LIVE.add(self)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.out.put(self._window(self.epoch, self.window))
                while not self.taken.acquire(timeout=0.1):
                    if self.stop.is_set():
                        return
                if (self.window + 1) * self.buffer >= self.length:
                    self.epoch, self.window = self.epoch + 1, 0
                else:
                    self.window += 1
        except _Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the main thread, raised there
            self.out.put(e)
        finally:
            it, self.it = self.it, None
            self.held.clear()
            shutdown = getattr(it, "_shutdown_workers", None)  # multi-process iterators
            if shutdown is not None:
                shutdown()  # the workers end now, not whenever the iterator is collected

    def _pull(self, key: tuple[int, int]) -> dict:
        while key not in self.held:
            if self.stop.is_set():
                raise _Stopped
            item = next(self.it)
            if "error" in item:
                raise PixelsmithError(item["error"])
            self.held[(item["epoch"], item["slot"])] = item
        return self.held.pop(key)

    def _window(self, e: int, j: int) -> dict:
        lo, hi = j * self.buffer, min((j + 1) * self.buffer, self.length)
        perm = torch.randperm(hi - lo, generator=torch.Generator().manual_seed(
            _seed(self.seed, "window", e, self.world, self.rank, j)))
        where = torch.empty_like(perm)
        where[perm] = torch.arange(hi - lo)  # slot -> its place in the permuted window
        valid = torch.zeros(hi - lo, dtype=torch.bool)  # places that got a readable picture
        x = c = None
        failed, cur = [], lo
        while cur < hi:
            item = self._pull((e, cur))
            n = item["keep"].numel()
            if cur + n > hi:  # the rest belongs to the next window
                m = hi - cur
                k = int(item["keep"][:m].sum())
                cut = lambda t, a, b: None if t is None else t[a:b]  # noqa: E731
                self.held[(e, hi)] = {**item, "slot": hi, "keep": item["keep"][m:],
                                      "x": item["x"][k:], "c": cut(item["c"], k, None),
                                      "failed": []}
                item = {**item, "keep": item["keep"][:m], "x": item["x"][:k],
                        "c": cut(item["c"], 0, k)}
                n = m
            if x is None:  # pinned: the copy to the device runs asynchronously
                x = torch.empty((hi - lo, *item["x"].shape[1:]), dtype=torch.uint8,
                                pin_memory=self.pin)
                c = None if item["c"] is None else torch.empty(hi - lo, dtype=torch.long)
            places = where[cur - lo : cur - lo + n][item["keep"]]
            x.index_copy_(0, places, item["x"])  # the chunk is freed as soon as it is placed
            if c is not None:
                c[places] = item["c"]
            valid[places] = True
            failed += item["failed"]
            cur += n
            del item
        if not valid.all():  # unreadable files: their places go (a copy, only then)
            keep = valid.nonzero().squeeze(1)
            x = torch.index_select(x, 0, keep, out=torch.empty(
                (keep.numel(), *x.shape[1:]), dtype=torch.uint8, pin_memory=self.pin))
            c = None if c is None else c[keep]
        return {"epoch": e, "window": j, "x": x, "c": c, "failed": failed}


class StreamBatches:
    """The streamed batch source; same interface as ``DeviceBatches`` (data/batches.py)."""

    def __init__(self, coll, batch_size: int, seed: int, device: torch.device,
                 channels_last: bool = False, shard: tuple[int, int] = (0, 1), *,
                 workers: int = 2, buffer: int = 10000):
        self.coll, self.seed, self.device = coll, seed, device
        self.rank, self.world = shard
        self.local_size = batch_size // self.world
        lo, hi = rank_range(coll.count, self.rank, self.world)
        self.length = hi - lo
        if self.length == 0:
            raise PixelsmithError(f"the data set has {coll.count} images, fewer than the "
                                  f"{self.world} processes")
        self.workers, self.buffer = workers, max(1, buffer)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.class_names, self.source = coll.class_names, coll.source
        self.info = None  # set by make_batches
        self.epoch, self.window, self.taken = 0, 0, 0
        self._feeder: _Feeder | None = None
        self._x = self._c = None
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return self.coll.count

    def __del__(self) -> None:
        feeder = getattr(self, "_feeder", None)
        if feeder is not None:  # no join here: the feeder ends (and ends its workers) alone
            feeder.stop.set()

    def first_images(self, n: int) -> torch.Tensor:
        return self.coll.head(n).images.to(self.device)

    def close(self) -> None:
        """Stop the feeder thread and the DataLoader workers and free the windows. The
        position is kept: a later ``next()`` starts them again where this one left off."""
        feeder, self._feeder = self._feeder, None
        self._x = self._c = None
        if feeder is None:
            return
        feeder.stop.set()
        feeder.join(timeout=JOIN_TIMEOUT_S)
        if feeder.is_alive():
            warnings.warn(f"{self.source}: the data feeder did not stop within "
                          f"{JOIN_TIMEOUT_S} s (a worker stuck reading?); it ends with the "
                          "process", stacklevel=2)

    def _start(self) -> None:
        ds = PieceStream(self.coll, self.seed, self.rank, self.world, self.epoch,
                         self.window * self.buffer)
        # its own generator: a DataLoader draws its workers' base seed from the global RNG
        # otherwise, which would shift the training noise by when the workers start
        loader = DataLoader(ds, batch_size=None, num_workers=self.workers,
                            prefetch_factor=2 if self.workers else None,
                            worker_init_fn=_ignore_sigint if self.workers else None,
                            generator=torch.Generator().manual_seed(self.seed))
        self._feeder = _Feeder(iter(loader), self.epoch, self.window, buffer=self.buffer,
                               length=self.length, seed=self.seed, rank=self.rank,
                               world=self.world, pin=self.device.type == "cuda")
        self._feeder.start()
        self._take_window()

    def _take_window(self) -> None:
        win = self._feeder.out.get()
        if isinstance(win, BaseException):
            self.close()
            raise win
        self._x = self._c = None  # the drained window goes before the feeder fills another
        for path, why in win["failed"]:
            if path not in self._warned and len(self._warned) < SHOW_SKIPPED:
                warnings.warn(f"skipped unreadable image {path} ({why})", stacklevel=4)
            self._warned.add(path)
        self.epoch, self.window = win["epoch"], win["window"]
        self._x = win["x"].to(self.device, non_blocking=True)
        self._c = None if win["c"] is None else win["c"].to(self.device, non_blocking=True)
        del win
        self._feeder.taken.release()  # the feeder may now assemble the one after

    def next(self) -> Batch:
        if self._feeder is None:
            self._start()
        xs, cs, need, empty = [], [], self.local_size, 0
        while need:
            avail = self._x.shape[0] - self.taken
            if avail <= 0:
                self._take_window()
                self.taken = 0
                empty = empty + 1 if self._x.shape[0] == 0 else 0
                if empty > self.length // self.buffer + 2:
                    raise PixelsmithError(f"{self.source}: no readable images in a whole epoch")
                continue
            t = min(need, avail)
            xs.append(self._x[self.taken : self.taken + t])
            if self._c is not None:
                cs.append(self._c[self.taken : self.taken + t])
            self.taken += t
            need -= t
        x = from_uint8(torch.cat(xs)).contiguous(memory_format=self.memory_format)
        return Batch(x=x, c=torch.cat(cs) if cs else None)

    def _order(self) -> dict:
        """What the saved position is a position in: change any of it and it means nothing."""
        return {"world": self.world, "buffer": self.buffer, "count": self.coll.count,
                "seed": self.seed, "data": self.coll.fingerprint}

    def state_dict(self) -> dict:
        return {"stream": {"epoch": self.epoch, "window": self.window, "taken": self.taken,
                           **self._order()}}

    def load_state_dict(self, state: dict) -> None:
        if "stream" not in state:
            raise PixelsmithError("the checkpoint's data position (train_state.pt) was saved by "
                                  "the in-memory data path; resume with --set "
                                  "data.stream=false")
        s = state["stream"]
        self.close()  # restarted at the next batch, from the saved window
        now = self._order()
        changed = [k for k in now if s.get(k, now[k]) != now[k]]
        if not changed:
            self.epoch, self.window, self.taken = s["epoch"], s["window"], s["taken"]
            return
        what = {"world": "processes", "buffer": "data.shuffle_buffer", "count": "images",
                "seed": "seed", "data": "shards (their SHA-256)"}
        diff = ", ".join(f"{what[k]} {_short(s[k])} -> {_short(now[k])}" for k in changed)
        warnings.warn(f"the data order was saved for other data or settings ({diff}): it "
                      f"cannot continue exactly; starting epoch {s['epoch'] + 1} from its "
                      "beginning", stacklevel=2)
        self.epoch, self.window, self.taken = s["epoch"] + 1, 0, 0


def _short(v) -> str:
    return f"{v[:12]}..." if isinstance(v, str) and len(v) > 12 else str(v)
