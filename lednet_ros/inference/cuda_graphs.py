"""CUDA graph capture: replay a fixed-shape GPU computation with one launch.

LEDNet is a few hundred small kernels (factorised 3x1/1x3 convolutions,
splits, shuffles, additions) over small tensors. On a modern GPU each kernel
runs for a few microseconds, so launching them one by one from Python costs
more than running them. A CUDA graph records the launches once and replays
them all with a single call, which removes that overhead; the price is that
the inputs and outputs live in fixed ("static") device buffers, one graph per
input shape.

:class:`GraphedPipeline` is the engine's use of it: the whole pipeline from
uploaded uint8 pixels to every output, captured per batch size and image
shape and fed from pinned host buffers.

Torch-only and import-safe on machines without CUDA: nothing here touches
the GPU until :func:`capture` is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np
import torch

from lednet_ros.inference.pixels import CHANNEL_INDEX, ChannelOrder

__all__ = ["OUTPUT_NAMES", "CapturedGraph", "GraphedPipeline", "Pipeline", "capture"]

OUTPUT_NAMES = ("labels", "confidence", "color", "overlay")
"""What a captured pipeline makes, in this order; the last three are optional for a caller."""

Pipeline = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
"""(N x H x W x C uint8 pixels, N x 3 int64 channel index, alpha scalar) -> every output, on the device."""

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


class GraphedPipeline:
    """One captured pipeline: pinned host buffers, static device buffers, the graph.

    A call copies the images into the pinned input buffer, uploads it
    asynchronously, replays the graph and downloads only the outputs asked
    for (the graph always makes all four: recapturing when a subscriber
    comes or goes would stall the stream), with one synchronisation at the end.

    Args:
        pipeline: the computation to capture; it must read only its three
            arguments (the static inputs) and make every one of :data:`OUTPUT_NAMES`.
        device: the CUDA device it runs on.
        shape: (batch, height, width, channels) of the uint8 input.
    """

    def __init__(self, pipeline: Pipeline, device: torch.device, shape: tuple[int, int, int, int]) -> None:
        batch = shape[0]
        self.host_pixels = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
        self.host_index = torch.empty((batch, 3), dtype=torch.int64, pin_memory=True)
        self.pixels = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
        self.index = torch.tensor([CHANNEL_INDEX["rgb"]] * batch, dtype=torch.int64, device=device)
        self.alpha = torch.full((), 0.5, dtype=torch.float32, device=device)
        self.device = device
        self.graph: CapturedGraph[dict[str, torch.Tensor]] = capture(
            lambda: pipeline(self.pixels, self.index, self.alpha)
        )
        self.host_outputs = {
            name: torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for name, t in self.graph.outputs.items()
        }

    def run(self, images: Sequence[np.ndarray], orders: Sequence[ChannelOrder], alpha: float,
            wants: tuple[bool, bool, bool]) -> dict[str, torch.Tensor]:  # fmt: skip
        """Replay on ``images``; the labels and the outputs ``wants`` (confidence, color, overlay) asks for.

        The returned host tensors are pinned buffers that the next call
        overwrites: copy what must outlive it.
        """
        host = self.host_pixels.numpy()
        index = self.host_index.numpy()
        for row, (image, order) in enumerate(zip(images, orders, strict=True)):
            np.copyto(host[row], image.reshape(host[row].shape))
            index[row] = CHANNEL_INDEX[order]
        self.pixels.copy_(self.host_pixels, non_blocking=True)
        self.index.copy_(self.host_index, non_blocking=True)
        self.alpha.fill_(alpha)
        outputs = self.graph.replay()
        names = [OUTPUT_NAMES[0], *(name for name, want in zip(OUTPUT_NAMES[1:], wants, strict=True) if want)]
        for name in names:
            self.host_outputs[name].copy_(outputs[name], non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return {name: self.host_outputs[name] for name in names}
