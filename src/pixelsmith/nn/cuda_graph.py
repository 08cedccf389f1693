"""A network call replayed from CUDA graphs: sampling a diffusion model calls the same
network on the same shapes tens to hundreds of times, and on a GPU a small network spends
much of each call launching kernels one by one from Python. A captured graph launches them
all at once.

``GraphedCall(fn)`` is called like ``fn(*tensors)`` (None allowed for an absent argument)
and returns what ``fn`` returns, a tensor. For each signature (the arguments' shapes,
dtypes and device, plus a caller's ``key``):

    1st call   runs ``fn`` eagerly on a side stream (cuDNN picks its algorithms, lazy
               state is made: a graph must not capture either)
    2nd call   captures ``fn`` on copies of the arguments, then replays it
    later      copies the arguments into the graph's own inputs, replays, and returns a
               copy of its output (the next replay overwrites the graph's)

Only the network's arithmetic may be in the graph: random draws stay outside (a graph
would replay the same noise), so a caller passes ``eager=True`` for a network in training
mode (dropout). ``fn`` runs itself, uncaptured, off CUDA, with gradients on, in inference
mode and while this thread captures another graph. A capture that fails warns once and
leaves the call eager from then on (the random state it breaks is mended). Captures are
one at a time in the process and refuse only their own thread's unsafe calls, so a
data-loading thread's allocations go on.
Replays of one GraphedCall are serialised by a lock; callers on several threads must
share a stream (the default one, as pixelsmith's do), or one's replay could overwrite the
output another has not yet copied.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import torch

MAX_GRAPHS = 4  # signatures kept; each holds its own memory (activations of one call)
_CAPTURING = threading.Lock()  # one capture at a time in the process


@dataclass
class _Graph:
    inputs: list[torch.Tensor | None] = field(default_factory=list)
    output: torch.Tensor | None = None
    graph: torch.cuda.CUDAGraph | None = None  # None until the 2nd call of the signature


def graph_key(net: torch.nn.Module) -> tuple:
    """What a graph of ``net`` depends on beyond its inputs: where its parameters and
    buffers live (a graph reads those addresses: weights moved or reallocated need a new
    capture; weights updated in place, as EMA does, do not)."""
    return (id(net), *(t.data_ptr() for t in net.parameters()),
            *(t.data_ptr() for t in net.buffers()))


def _mend_random_state() -> None:
    """A capture that fails leaves torch's CUDA generators waiting for its end, and every
    later random draw on the GPU raises ("Offset increment outside graph capture"); a
    trivial capture that succeeds puts them back (seen with torch 2.11 on an H200)."""
    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            torch.zeros(1, device="cuda").add_(1)
    except RuntimeError:
        pass


class GraphedCall:
    def __init__(self, fn: Callable[..., torch.Tensor], max_graphs: int = MAX_GRAPHS):
        self.fn = fn
        self.max_graphs = max_graphs
        self.graphs: OrderedDict[tuple, _Graph] = OrderedDict()
        self.captures = 0  # graphs captured so far (tests, benches)
        self.disabled = False
        self._streams: dict[torch.device, torch.cuda.Stream] = {}  # side streams
        self._lock = threading.Lock()

    def __call__(self, *args: torch.Tensor | None, key: Hashable = (),
                 eager: bool = False) -> torch.Tensor:
        first = next((a for a in args if a is not None), None)
        if (eager or self.disabled or first is None or first.device.type != "cuda"
                or torch.is_grad_enabled() or torch.is_inference_mode_enabled()
                or torch.cuda.is_current_stream_capturing()):
            return self.fn(*args)
        sig = (key, *(None if a is None else (a.shape, a.dtype, a.device) for a in args))
        with self._lock, torch.cuda.device(first.device):
            entry = self.graphs.get(sig)
            if entry is None:
                self._remember(sig, _Graph())
                return self._warm_up(args, first.device)
            self.graphs.move_to_end(sig)
            if entry.graph is None:
                try:
                    with _CAPTURING:
                        self._capture(entry, args, first.device)
                except RuntimeError as e:  # an op that cannot be captured: stay eager
                    with _CAPTURING:
                        _mend_random_state()
                    self.disabled = True
                    self.graphs.clear()
                    warnings.warn(f"CUDA graph capture failed, sampling without graphs: {e}",
                                  stacklevel=2)
                    return self.fn(*args)
            for static, a in zip(entry.inputs, args):
                if static is not None:
                    static.copy_(a)
            entry.graph.replay()
            return entry.output.clone()

    def _remember(self, sig: tuple, entry: _Graph) -> None:
        self.graphs[sig] = entry
        while len(self.graphs) > self.max_graphs:  # the least recently used goes
            self.graphs.popitem(last=False)

    def _side_stream(self, device: torch.device) -> torch.cuda.Stream:
        if device not in self._streams:
            self._streams[device] = torch.cuda.Stream(device)
        return self._streams[device]

    def _warm_up(self, args, device: torch.device) -> torch.Tensor:
        current, side = torch.cuda.current_stream(device), self._side_stream(device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            out = self.fn(*args)
        current.wait_stream(side)
        out.record_stream(current)  # made on the side stream, read on this one
        return out

    def _capture(self, entry: _Graph, args, device: torch.device) -> None:
        entry.inputs = [None if a is None else a.clone() for a in args]
        graph = torch.cuda.CUDAGraph()
        # its own memory pool (graphs replay in any order); other threads' CUDA calls
        # during the capture (a loader pinning memory) are theirs, not refused
        with torch.cuda.graph(graph, stream=self._side_stream(device),
                              capture_error_mode="thread_local"):
            entry.output = self.fn(*entry.inputs)
        entry.graph = graph
        self.captures += 1
