"""A network call replayed from CUDA graphs: sampling a diffusion model calls the same
network on the same shapes tens to hundreds of times, and on a GPU a small network spends
much of each call launching kernels one by one from Python. A captured graph launches them
all at once.

``GraphedCall(fn)`` is called like ``fn(*tensors)`` (None allowed for an absent argument)
and returns what ``fn`` returns, a tensor. For each signature (the arguments' shapes and
dtypes, plus a caller's ``key``):

    1st call   runs ``fn`` eagerly on a side stream (cuDNN picks its algorithms, lazy
               state is made: a graph must not capture either)
    2nd call   captures ``fn`` on copies of the arguments, then replays it
    later      copies the arguments into the graph's own inputs, replays, and returns a
               copy of its output (the next replay overwrites the graph's)

Only the network's arithmetic is in the graph: random draws stay outside (a graph would
replay the same noise), so seeds give the same images with graphs as without. Anything
but CUDA under ``torch.no_grad``, and a call made while another graph captures, runs
``fn`` itself; a capture that fails warns once and leaves the call eager from then on.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import torch

MAX_GRAPHS = 4  # signatures kept; each holds its own memory (activations of one call)


@dataclass
class _Graph:
    inputs: list[torch.Tensor | None] = field(default_factory=list)
    output: torch.Tensor | None = None
    graph: torch.cuda.CUDAGraph | None = None  # None until the 2nd call of the signature


def graph_key(net: torch.nn.Module) -> tuple:
    """What a graph of ``net`` depends on beyond its inputs: where its parameters and
    buffers live (a graph reads those addresses: weights moved or reallocated need a new
    capture; weights updated in place, as EMA does, do not) and its train/eval mode."""
    return (id(net), net.training,
            *(t.data_ptr() for t in net.parameters()), *(t.data_ptr() for t in net.buffers()))


class GraphedCall:
    def __init__(self, fn: Callable[..., torch.Tensor], max_graphs: int = MAX_GRAPHS):
        self.fn = fn
        self.max_graphs = max_graphs
        self.graphs: OrderedDict[tuple, _Graph] = OrderedDict()
        self.captures = 0  # graphs captured so far (tests, benches)
        self.disabled = False
        self._lock = threading.Lock()  # one thread at a time uses a graph's inputs/output

    def __call__(self, *args: torch.Tensor | None, key: Hashable = ()) -> torch.Tensor:
        first = next((a for a in args if a is not None), None)
        if (self.disabled or first is None or first.device.type != "cuda"
                or torch.is_grad_enabled() or torch.cuda.is_current_stream_capturing()):
            return self.fn(*args)
        sig = (key, *(None if a is None else (a.shape, a.dtype, a.device) for a in args))
        with self._lock:
            entry = self.graphs.get(sig)
            if entry is None:
                self._remember(sig, _Graph())
                return self._warm_up(args)
            self.graphs.move_to_end(sig)
            if entry.graph is None:
                try:
                    self._capture(entry, args)
                except RuntimeError as e:  # an op that cannot be captured: stay eager
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

    def _warm_up(self, args) -> torch.Tensor:
        current = torch.cuda.current_stream()
        side = torch.cuda.Stream()
        side.wait_stream(current)
        with torch.cuda.stream(side):
            out = self.fn(*args)
        current.wait_stream(side)
        out.record_stream(current)  # made on the side stream, read on this one
        return out

    def _capture(self, entry: _Graph, args) -> None:
        entry.inputs = [None if a is None else a.clone() for a in args]
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):  # its own memory pool: graphs replay in any order
            entry.output = self.fn(*entry.inputs)
        entry.graph = graph
        self.captures += 1
