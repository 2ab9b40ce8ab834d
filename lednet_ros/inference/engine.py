"""The inference engine: uint8 camera images in, uint8 label images out.

Everything between upload and download runs on the engine's device: channel
order swap, scaling to [0, 1], resizing to the model resolution,
normalisation, the network (BatchNorm folded, channels_last, fp16 on CUDA),
upsampling the class scores to the image's size, argmax, confidence, palette
look-up and overlay blending. Only uint8 arrays cross back to the host.

Pixel semantics (what a test reference must compute):

1. the image, as float RGB in [0, 1], is resized to the model size with
   bilinear interpolation (``align_corners=False``), antialiased along each
   axis that shrinks (as PIL's resize, which the authors trained with, does),
   and normalised with the checkpoint's mean/std, if any;
2. the network's 1/8-resolution class scores are upsampled bilinearly
   (``align_corners=True``) straight to the image's size;
3. the label is the argmax; an output channel marked void in the checkpoint
   becomes the ignore id (255); confidence is the softmax maximum x 255.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch convention)

from lednet_ros.errors import ImageEncodingError, LednetError
from lednet_ros.inference.backends import (
    CoarseRunner,
    HeadRunner,
    classify_scores,
    make_head_runner,
    make_runner,
    resolve_backend,
    weights_digest,
)
from lednet_ros.inference.cuda_graphs import CapturedGraph, capture
from lednet_ros.inference.lru import LruCache
from lednet_ros.inference.options import DEFAULT_MODEL_SIZE, MIN_MODEL_SIDE, PRECISIONS, EngineOptions
from lednet_ros.model.checkpoint import Checkpoint, default_checkpoint, load_checkpoint
from lednet_ros.model.network import fold_batchnorm

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torch import Tensor

    from lednet_ros.model.classes import ClassConfig

__all__ = [
    "ChannelOrder",
    "SegmentationEngine",
    "SegmentationResult",
    "model_input_size",
    "resolve_device",
    "resolve_precision",
]

_LOG = logging.getLogger(__name__)

MAX_ASPECT = 4
"""With ``keep_aspect``, the model height is at most this many times its width."""

MAX_CUDA_GRAPHS = 16
"""Captured pipelines kept per engine (one per batch size and image shape), least recently used dropped."""

MAX_BACKEND_SESSIONS = 16
"""ONNX Runtime / OpenVINO sessions kept per kind (network per input shape, head per output size), likewise.

ONNX Runtime's sessions share one memory arena (see :mod:`lednet_ros.inference.backends`), so a
kept session costs little more than its graph."""

_CHANNEL_INDEX = {"rgb": (0, 1, 2), "bgr": (2, 1, 0)}

ChannelOrder = Literal["rgb", "bgr"]


@dataclass(frozen=True)
class SegmentationResult:
    """Per-pixel results at the input image's resolution (all uint8, host memory).

    Attributes:
        labels: HxW class train ids; the ignore id (255) where the network
            predicted its void class.
        confidence: HxW softmax probability of the chosen class x 255, or None
            when not requested.
        color: HxWx3 RGB palette image, or None when not requested.
        overlay: HxWx3 RGB blend of the input and ``color``, or None.
    """

    labels: np.ndarray
    confidence: np.ndarray | None = None
    color: np.ndarray | None = None
    overlay: np.ndarray | None = None


def resolve_device(device: str) -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a usable device.

    ``auto`` picks the first CUDA device when there is one, else the CPU.

    Raises:
        LednetError: an unknown name, or CUDA asked for explicitly but unusable.
    """
    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no usable CUDA device or driver"
            msg = f"device {device!r} requested but CUDA is not available ({why}; torch {torch.__version__})"
            raise LednetError(msg)
        index = 0 if name == "cuda" else name.partition(":")[2]
        if not str(index).isdigit() or int(index) >= torch.cuda.device_count():
            msg = f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            raise LednetError(msg)
        return torch.device("cuda", int(index))
    msg = f"unknown device {device!r}: use auto, cpu, cuda or cuda:N"
    raise LednetError(msg)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on CUDA and fp32 on the CPU; fp16 on the CPU is refused.

    Raises:
        LednetError: an unknown precision, or fp16 without CUDA.
    """
    name = precision.strip().lower()
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name == "fp32":
        return torch.float32
    if name == "fp16":
        if device.type != "cuda":
            msg = "precision 'fp16' needs a CUDA device (CPU convolutions in fp16 are slower than fp32)"
            raise LednetError(msg)
        return torch.float16
    msg = f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}"
    raise LednetError(msg)


def model_input_size(image_size: tuple[int, int], model_size: tuple[int, int], *, keep_aspect: bool) -> tuple[int, int]:
    """(width, height) the network sees for an image of ``image_size`` (width, height).

    With ``keep_aspect`` the model width is kept and the height follows the
    image's aspect ratio, rounded to a multiple of 8 (a 1920x1080 camera at
    model width 1024 runs at 1024x576 instead of being squashed to 1024x512).
    The height is capped at ``MAX_ASPECT`` times the width, so a degenerate
    image cannot ask for a gigantic tensor.
    """
    if not keep_aspect:
        return model_size
    width, height = image_size
    model_width = model_size[0]
    model_height = round(model_width * height / width / 8) * 8
    return (model_width, min(max(8, model_height), MAX_ASPECT * model_width))


class SegmentationEngine:
    """LEDNet inference on one device, from camera-shaped uint8 arrays.

    Args:
        checkpoint: a loaded :class:`Checkpoint`, a path to a weights file, or
            None for ``options.weights`` (None there too: the packaged default).
        options: the engine's options (:class:`EngineOptions`); ``overrides``
            replace single fields of it by name, e.g. ``device="cpu"``.
        class_config: colours/names to draw with instead of the checkpoint's
            (must have the same number of classes).

    The options mean:

        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto`` (fp16 on CUDA, fp32 on CPU), ``fp32`` or ``fp16``.
        model_size: (width, height) the network runs at; default: the size the
            weights were trained at (their metadata), else 1024x512.
        keep_aspect: derive the model height from each image's aspect ratio.
        threads: CPU threads for torch (and the ONNX backends); None keeps
            their defaults.
        backend: where the network runs: ``auto`` (the fastest installed
            one on the CPU, PyTorch on CUDA), ``torch``, ``onnxruntime`` or
            ``openvino`` (see :mod:`lednet_ros.inference.backends`).
        cuda_graphs: on CUDA, capture the whole pipeline (upload buffer to
            outputs) as one CUDA graph per batch size and image shape, fed
            from pinned host buffers (see :mod:`lednet_ros.inference.cuda_graphs`);
            the first call at a shape pays for the capture.
        compile_network: run the network through ``torch.compile``
            (TorchInductor), which fuses the activations, additions, splits
            and shuffles around the convolutions into few kernels. The first
            call at each shape compiles (tens of seconds).

    Raises:
        LednetError: unusable device or precision, bad weights, or a class
            config that does not fit the weights.
    """

    def __init__(
        self,
        checkpoint: Checkpoint | str | os.PathLike[str] | None = None,
        *,
        options: EngineOptions | None = None,
        class_config: ClassConfig | None = None,
        **overrides: Any,
    ) -> None:
        options = replace(options or EngineOptions(), **overrides)  # an unknown name is a TypeError, as ever
        self.options = options
        if checkpoint is None and options.weights:
            checkpoint = options.weights
        if isinstance(checkpoint, (str, os.PathLike)):
            checkpoint = load_checkpoint(Path(checkpoint))
        self.checkpoint: Checkpoint = checkpoint if checkpoint is not None else default_checkpoint()
        device, precision, model_size = options.device, options.precision, options.model_size
        keep_aspect, num_threads, backend = options.keep_aspect, options.threads, options.backend
        cuda_graphs, compile_network = options.cuda_graphs, options.compile_network
        self.device = resolve_device(device)
        self.dtype = resolve_precision(precision, self.device)
        if model_size is None:
            model_size = self.checkpoint.meta.train_size or DEFAULT_MODEL_SIZE
        if min(model_size) < MIN_MODEL_SIDE:
            msg = (
                f"model size {model_size[0]}x{model_size[1]} is too small (at least {MIN_MODEL_SIDE}x{MIN_MODEL_SIDE})"
            )
            raise LednetError(msg)
        self.model_size = (int(model_size[0]), int(model_size[1]))
        self.keep_aspect = keep_aspect
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.num_threads = num_threads
        self.backend = resolve_backend(backend, self.device)

        meta = self.checkpoint.meta
        self.classes = class_config or meta.classes
        if self.classes.num_classes != meta.classes.num_classes:
            msg = (
                f"class config {self.classes.name!r} has {self.classes.num_classes} classes, "
                f"weights {meta.name!r} predict {meta.classes.num_classes}"
            )
            raise LednetError(msg)
        self.ignore_id = self.classes.ignore_id

        model = fold_batchnorm(self.checkpoint.build_model())
        self.channels_last = True
        self.model = model.to(self.device, self.dtype, memory_format=torch.channels_last).eval()
        # ONNX sessions per input shape and per output size, bounded like the CUDA graphs: a camera
        # that keeps changing resolution must not pile up sessions (each holds its graph and threads).
        self._runners: LruCache[tuple[int, ...], CoarseRunner] = LruCache(MAX_BACKEND_SESSIONS)
        self._heads: LruCache[tuple[tuple[int, ...], tuple[int, int], bool], HeadRunner] = LruCache(
            MAX_BACKEND_SESSIONS
        )
        self._digest = weights_digest(self.model) if self.backend != "torch" else ""
        if compile_network and self.backend != "torch":
            msg = f"compile_network needs the torch backend, not {self.backend!r}"
            raise LednetError(msg)
        self.compile_network = compile_network
        self._network = (
            torch.compile(self.model.coarse_logits, dynamic=False) if compile_network else self.model.coarse_logits
        )
        self.uses_cuda_graphs = cuda_graphs and self.device.type == "cuda" and self.backend == "torch"
        self._graphs: LruCache[tuple[int, int, int, int, bool], _GraphedPipeline] = LruCache(MAX_CUDA_GRAPHS)
        self._graph_failures: set[tuple[int, int, int, int, bool]] = set()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN time its algorithms once per shape
            if self.dtype == torch.float32:
                # fp32 means fp32: cuDNN would otherwise run convolutions in TF32 (10-bit mantissa), which
                # flipped 2.5% of a test network's labels at 1024x512. Process-wide, as PyTorch's switch is.
                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cuda.matmul.allow_tf32 = False

        # Output channel -> published label (void channel -> ignore id).
        label_of_channel = torch.arange(256, dtype=torch.uint8)
        if meta.void_class is not None:
            label_of_channel[meta.void_class] = self.ignore_id
        self._label_lut = label_of_channel.to(self.device)
        self._palette = torch.from_numpy(self.classes.palette()).to(self.device)
        if meta.mean is not None and meta.std is not None:
            self._mean: Tensor | None = torch.tensor(meta.mean, device=self.device).view(1, 3, 1, 1)
            self._std: Tensor | None = torch.tensor(meta.std, device=self.device).view(1, 3, 1, 1)
        else:
            self._mean = self._std = None
        _LOG.info(
            "LEDNet engine: weights %s on %s (%s, %s%s%s), model size %dx%d%s",
            self.checkpoint.describe(), self.device, self.precision_name, self.backend,
            ", compiled" if compile_network else "", ", CUDA graphs" if self.uses_cuda_graphs else "",
            *self.model_size, ", keep aspect" if keep_aspect else "",
        )  # fmt: skip

    @property
    def precision_name(self) -> str:
        """``fp16`` or ``fp32``."""
        return "fp16" if self.dtype == torch.float16 else "fp32"

    # -- public API ---------------------------------------------------------

    def infer(
        self,
        image: np.ndarray,
        *,
        order: ChannelOrder = "rgb",
        confidence: bool = True,
        color: bool = False,
        overlay: bool = False,
        alpha: float = 0.5,
    ) -> SegmentationResult:
        """Segment one image.

        Args:
            image: HxWx3 uint8 (channel order given by ``order``) or HxW uint8 mono.
            order: ``rgb`` or ``bgr`` (OpenCV's order); ignored for mono.
            confidence: also return the per-pixel confidence.
            color: also return the palette image.
            overlay: also return the input blended with the palette image.
            alpha: palette weight in the overlay, 0 (input only) to 1 (palette only).

        Raises:
            ImageEncodingError: not a uint8 HxW or HxWx3 array, or empty.
        """
        (result,) = self.infer_batch(
            [image], order=order, confidence=confidence, color=color, overlay=overlay, alpha=alpha
        )
        return result

    def infer_batch(
        self,
        images: Sequence[np.ndarray],
        *,
        order: ChannelOrder | Sequence[ChannelOrder] = "rgb",
        confidence: bool = True,
        color: bool = False,
        overlay: bool = False,
        alpha: float = 0.5,
        at_model_size: bool = False,
    ) -> list[SegmentationResult]:
        """Segment several images with one forward pass per model input size.

        Images may differ in size; those that map to the same model input size
        (all of them, unless ``keep_aspect``) share one batched forward pass.
        ``order`` is one channel order for all, or one per image (cameras
        differ). With ``at_model_size`` the results have the model's size
        instead of each image's (the overlay blends the resized image).
        Other arguments as for :meth:`infer`.
        """
        orders = [order] * len(images) if isinstance(order, str) else list(order)
        if len(orders) != len(images) or any(o not in ("rgb", "bgr") for o in orders):
            msg = f"channel order must be 'rgb' or 'bgr' (one, or one per image), got {order!r}"
            raise ValueError(msg)
        if not 0.0 <= alpha <= 1.0:
            msg = f"overlay alpha must be in [0, 1], got {alpha}"
            raise ValueError(msg)
        for image in images:
            _check_image(image)
        wants = (confidence, color, overlay)
        results: list[SegmentationResult | None] = [None] * len(images)
        eager = list(range(len(images)))
        with torch.inference_mode():
            if self.uses_cuda_graphs:
                eager = []
                same_shape: dict[tuple[int, ...], list[int]] = {}
                for index, image in enumerate(images):
                    same_shape.setdefault(image.shape, []).append(index)
                for shape, indices in same_shape.items():
                    graphed = self._graphed(len(indices), shape, at_model_size)
                    if graphed is None:
                        eager += indices
                        continue
                    batch_results = graphed.run(
                        [images[i] for i in indices], [orders[i] for i in indices], alpha, wants
                    )
                    for i, result in zip(indices, batch_results, strict=True):
                        results[i] = result
            groups: dict[tuple[int, int], list[int]] = {}
            for index in eager:
                image = images[index]
                size = model_input_size((image.shape[1], image.shape[0]), self.model_size, keep_aspect=self.keep_aspect)
                groups.setdefault(size, []).append(index)
            for size, indices in groups.items():
                uploaded = [self._upload(images[i], orders[i]) for i in indices]
                batch = torch.cat([self._prepare(rgb, size) for rgb in uploaded])
                coarse = self.coarse_logits(batch)
                for row, (i, rgb) in enumerate(zip(indices, uploaded, strict=True)):
                    shown = _resize_uint8(rgb, size) if at_model_size else rgb
                    outputs = self._outputs(coarse[row : row + 1], shown, alpha, wants)
                    results[i] = _to_host(outputs, copy=False)[0]
        return [r for r in results if r is not None]

    def warm_up(self, image_sizes: Sequence[tuple[int, int]], batch: int = 1) -> None:
        """Run once at each (width, height) image size, so that the first real frame is not the slow one.

        The first call at a shape exports or loads the ONNX graph (ONNX
        backends), compiles the network (``compile_network``), captures the
        CUDA graph (``cuda_graphs``) and lets PyTorch pick its kernels. With
        ONNX Runtime it builds both heads (with and without confidence), since
        which one the first frame needs depends on who subscribes then.
        """
        for width, height in image_sizes:
            for confidence in (False, True) if self.backend == "onnxruntime" else (False,):
                self.infer_batch([np.zeros((height, width, 3), np.uint8)] * batch, confidence=confidence)

    # -- steps --------------------------------------------------------------

    def coarse_logits(self, batch: Tensor) -> Tensor:
        """The network on a prepared float batch (N x 3 x H x W, engine dtype): 1/8-resolution scores, on the engine's backend."""
        if self.backend == "torch":
            return self._network(batch.contiguous(memory_format=torch.channels_last))
        shape = tuple(batch.shape)
        runner = self._runners.get(shape)
        if runner is None:
            runner = make_runner(self.backend, self.model, self._digest, shape, self.num_threads)  # type: ignore[arg-type]
            self._runners.put(shape, runner)
        return torch.from_numpy(runner(batch.float().contiguous().numpy()))

    def _upload(self, image: np.ndarray, order: ChannelOrder) -> Tensor:
        """Host uint8 array -> device uint8 tensor, 1x3xHxW in RGB order."""
        array = np.ascontiguousarray(image)
        if not array.flags.writeable:  # e.g. np.frombuffer over a ROS message; torch refuses to share those
            array = array.copy()
        tensor = torch.from_numpy(array).to(self.device, non_blocking=True)
        if tensor.ndim == 2:
            return tensor.view(1, 1, *tensor.shape).expand(1, 3, -1, -1)
        tensor = tensor.permute(2, 0, 1).unsqueeze(0)
        return tensor.flip(1) if order == "bgr" else tensor

    def _prepare(self, rgb: Tensor, size: tuple[int, int]) -> Tensor:
        """uint8 RGB -> normalised float at the model size (width, height), in the engine's dtype.

        Resizing and normalising run in fp32 whatever the network's precision:
        on a GPU they cost next to nothing, and fp16 here would add its
        rounding to the network's.
        """
        x = _resize(rgb.float().mul_(1.0 / 255.0), size)
        if self._mean is not None and self._std is not None:
            x = (x - self._mean) / self._std
        return x.to(self.dtype)

    def _outputs(
        self, coarse: Tensor, shown: Tensor, alpha: float | Tensor, wants: tuple[bool, bool, bool]
    ) -> dict[str, Tensor]:
        """Class scores (N x C x h x w) -> uint8 device tensors at ``shown``'s size (N x 3 x H x W uint8).

        ``wants`` is (confidence, color, overlay); labels are always made.
        ``alpha`` may be a device scalar, so that a captured graph follows
        run-time changes of it.
        """
        want_confidence, want_color, want_overlay = wants
        channel, confidence = self._classify(coarse, (int(shown.shape[-2]), int(shown.shape[-1])), want_confidence)
        labels = self._label_lut[channel]
        outputs = {"labels": labels}
        if confidence is not None:
            outputs["confidence"] = confidence
        if want_color or want_overlay:
            color = self._palette[labels.long()]
            if want_color:
                outputs["color"] = color
            if want_overlay:
                image = shown.permute(0, 2, 3, 1)
                blended = image.float() * (1.0 - alpha) + color.float() * alpha
                keep_input = (labels == self.ignore_id).unsqueeze(-1)
                outputs["overlay"] = torch.where(keep_input, image, blended.round_().to(torch.uint8)).contiguous()
        return outputs

    def _classify(self, coarse: Tensor, size: tuple[int, int], want_confidence: bool) -> tuple[Tensor, Tensor | None]:
        """Scores (N x C x h x w) -> argmax channel (N x H x W, int64) and confidence x 255 (uint8) at ``size``.

        With the ``onnxruntime`` backend ONNX Runtime runs these steps as well
        (one image at a time), about twice as fast as PyTorch on the CPU;
        elsewhere they are PyTorch's, which a CUDA graph captures.
        """
        if self.backend == "onnxruntime":
            key = (tuple(coarse.shape[1:]), size, want_confidence)
            head = self._heads.get(key)
            if head is None:
                head = make_head_runner((1, *coarse.shape[1:]), size, want_confidence, self.num_threads)  # type: ignore[arg-type]
                self._heads.put(key, head)
            rows = [head(coarse[row : row + 1].float().contiguous().numpy()) for row in range(coarse.shape[0])]
            channel = torch.from_numpy(np.stack([c for c, _ in rows]))
            return channel, torch.from_numpy(np.stack([f for _, f in rows])) if want_confidence else None  # type: ignore[misc]
        return classify_scores(coarse, size, want_confidence)

    def _pipeline(self, pixels: Tensor, channel_index: Tensor, alpha: Tensor, at_model_size: bool) -> dict[str, Tensor]:
        """Everything from an N x H x W x C uint8 device batch to every output: what a CUDA graph captures."""
        n, height, width, channels = pixels.shape
        nchw = pixels.permute(0, 3, 1, 2)
        if channels == 1:
            rgb = nchw.expand(n, 3, height, width)
        else:  # per-image channel order as data, so one graph serves any mix of rgb and bgr cameras
            rgb = torch.gather(nchw, 1, channel_index.view(n, 3, 1, 1).expand(n, 3, height, width))
        size = model_input_size((width, height), self.model_size, keep_aspect=self.keep_aspect)
        coarse = self.coarse_logits(self._prepare(rgb, size))
        shown = _resize_uint8(rgb, size) if at_model_size else rgb
        return self._outputs(coarse, shown, alpha, (True, True, True))

    def _graphed(self, batch: int, shape: tuple[int, ...], at_model_size: bool) -> _GraphedPipeline | None:
        """The captured pipeline for ``batch`` images of ``shape``; None (eager) if capture failed before."""
        key = (batch, shape[0], shape[1], shape[2] if len(shape) == 3 else 1, at_model_size)
        graphed = self._graphs.get(key)
        if graphed is None and key not in self._graph_failures:
            try:
                graphed = _GraphedPipeline(self, *key)
            except RuntimeError as exc:  # e.g. an operation that cannot be captured: stay correct, run eagerly
                _LOG.warning("CUDA graph capture failed for %s, running eagerly: %s", key, exc)
                self._graph_failures.add(key)
                torch.cuda.synchronize(self.device)
                return None
            self._graphs.put(key, graphed)
        return graphed


class _GraphedPipeline:
    """One captured pipeline: pinned host buffers, static device buffers, the graph.

    A call copies the images into the pinned input buffer, uploads it
    asynchronously, replays the graph and downloads only the outputs asked
    for (the graph always makes all four: recapturing when a subscriber
    comes or goes would stall the stream), with one synchronisation at the end.
    """

    def __init__(self, engine: SegmentationEngine, batch: int, height: int, width: int, channels: int,
                 at_model_size: bool) -> None:  # fmt: skip
        device = engine.device
        self.host_pixels = torch.empty((batch, height, width, channels), dtype=torch.uint8, pin_memory=True)
        self.host_index = torch.empty((batch, 3), dtype=torch.int64, pin_memory=True)
        self.pixels = torch.randint(0, 256, self.host_pixels.shape, dtype=torch.uint8, device=device)
        self.index = torch.tensor([_CHANNEL_INDEX["rgb"]] * batch, dtype=torch.int64, device=device)
        self.alpha = torch.full((), 0.5, dtype=torch.float32, device=device)
        self.device = device
        self.graph: CapturedGraph[dict[str, Tensor]] = capture(
            lambda: engine._pipeline(self.pixels, self.index, self.alpha, at_model_size)
        )
        self.host_outputs = {
            name: torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for name, t in self.graph.outputs.items()
        }

    def run(self, images: Sequence[np.ndarray], orders: Sequence[ChannelOrder], alpha: float,
            wants: tuple[bool, bool, bool]) -> list[SegmentationResult]:  # fmt: skip
        host = self.host_pixels.numpy()
        index = self.host_index.numpy()
        for row, (image, order) in enumerate(zip(images, orders, strict=True)):
            np.copyto(host[row], image.reshape(host[row].shape))
            index[row] = _CHANNEL_INDEX[order]
        self.pixels.copy_(self.host_pixels, non_blocking=True)
        self.index.copy_(self.host_index, non_blocking=True)
        self.alpha.fill_(alpha)
        outputs = self.graph.replay()
        names = [
            "labels",
            *(name for name, want in zip(("confidence", "color", "overlay"), wants, strict=True) if want),
        ]
        for name in names:
            self.host_outputs[name].copy_(outputs[name], non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        # Copies: the pinned buffers are overwritten by the next call.
        return _to_host({name: self.host_outputs[name] for name in names}, copy=True)


def _to_host(outputs: dict[str, Tensor], *, copy: bool) -> list[SegmentationResult]:
    """Batched output tensors (the outputs asked for, by name) -> one :class:`SegmentationResult` per image.

    ``copy``: give each image its own arrays (needed when ``outputs`` are
    reused buffers); without it the rows are views of fresh tensors.
    """
    arrays = {name: tensor.cpu().numpy() for name, tensor in outputs.items()}

    def take(name: str, row: int) -> np.ndarray:
        return arrays[name][row].copy() if copy else arrays[name][row]

    def pick(name: str, row: int) -> np.ndarray | None:
        return take(name, row) if name in arrays else None

    return [
        SegmentationResult(
            labels=take("labels", row),
            confidence=pick("confidence", row),
            color=pick("color", row),
            overlay=pick("overlay", row),
        )
        for row in range(len(arrays["labels"]))
    ]


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Float NCHW image to (width, height): bilinear, antialiased when shrinking (the engine's one resize rule)."""
    if (x.shape[-1], x.shape[-2]) == size:
        return x
    shrinks = size[0] < x.shape[-1] or size[1] < x.shape[-2]
    return F.interpolate(x, size=(size[1], size[0]), mode="bilinear", align_corners=False, antialias=shrinks)


def _resize_uint8(rgb: Tensor, size: tuple[int, int]) -> Tensor:
    """uint8 1x3xHxW image resized exactly as the model input was, back to uint8 (for overlays)."""
    if (rgb.shape[-1], rgb.shape[-2]) == size:
        return rgb
    return _resize(rgb.float(), size).round_().clamp_(0, 255).to(torch.uint8)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        msg = f"expected a NumPy array, got {type(image).__name__}"
        raise ImageEncodingError(msg)
    if image.dtype != np.uint8:
        msg = f"expected a uint8 image, got {image.dtype}"
        raise ImageEncodingError(msg)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        msg = f"expected an HxW or HxWx3 image, got shape {image.shape}"
        raise ImageEncodingError(msg)
    if image.shape[0] == 0 or image.shape[1] == 0:
        msg = f"empty image of shape {image.shape}"
        raise ImageEncodingError(msg)
