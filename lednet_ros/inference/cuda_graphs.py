"""CUDA graph capture: replay a fixed-shape GPU computation with one launch.

LEDNet is a few hundred small kernels (factorised 3x1/1x3 convolutions,
splits, shuffles, additions) over small tensors. On a modern GPU each kernel
runs for a few microseconds, so launching them one by one from Python costs
more than running them. A CUDA graph records the launches once and replays
them all with a single call, which removes that overhead; the price is that
the inputs and outputs live in fixed ("static") device buffers, one graph per
input shape.

Torch-only and import-safe on machines without CUDA: nothing here touches
the GPU until :func:`capture` is called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import torch

__all__ = ["CapturedGraph", "capture"]

T = TypeVar("T")


class CapturedGraph(Generic[T]):
    """A captured computation: :meth:`replay` reruns it on whatever its static inputs now hold.

    Attributes:
        outputs: what the function returned during capture; each replay
            overwrites these same tensors.
    """

    def __init__(self, graph: torch.cuda.CUDAGraph, outputs: T) -> None:
        self.graph = graph
        self.outputs = outputs

    def replay(self) -> T:
        """Launch the recorded kernels on the current stream; returns :attr:`outputs` (not yet synchronised)."""
        self.graph.replay()
        return self.outputs


def capture(fn: Callable[[], T], *, warmup: int = 3) -> CapturedGraph[T]:
    """Run ``fn`` ``warmup`` times, then record it as a CUDA graph.

    The warm-up runs let cuDNN pick its algorithms (``cudnn.benchmark``),
    Triton compile its kernels and the caching allocator settle, none of which
    may happen during capture. ``fn`` must read only tensors that stay alive
    and in place (the static inputs) and must not synchronise with the host.

    The warm-up runs on the current stream, not on a side stream as
    PyTorch's examples do: with cuDNN's benchmark search done on a side
    stream, replays of the captured LEDNet faulted with an illegal memory
    access on an H100 (torch 2.11, cuDNN 9; deterministic, gone with the
    search on the stream that later replays, see benchmarks/README.md).
    """
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    # thread_local: other threads of the process (ROS callbacks) may use CUDA-free code meanwhile.
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        outputs = fn()
    return CapturedGraph(graph, outputs)
