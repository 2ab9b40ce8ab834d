"""The inference engine: uint8 camera images in, uint8 label images out.

Everything between upload and download runs on the engine's device: channel
order swap, scaling to [0, 1], resizing to the model resolution,
normalisation, the network (BatchNorm folded, channels_last, fp16 on CUDA),
upsampling the class scores to the image's size, argmax, confidence, palette
look-up and overlay blending. Only uint8 arrays cross back to the host.

The engine puts together the parts other modules define:

* :mod:`lednet_ros.inference.pixels`: what each pixel becomes (what a test
  reference must compute), and the functions that do it;
* :mod:`lednet_ros.inference.device`: device, precision and torch's switches;
* :mod:`lednet_ros.inference.backends`: where the network runs;
* :mod:`lednet_ros.inference.cuda_graphs`: the whole pipeline as one CUDA graph.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lednet_ros.errors import LednetError
from lednet_ros.inference.backends import (
    CoarseRunner,
    HeadRunner,
    available_backends,
    make_head_runner,
    make_runner,
    resolve_backend,
    weights_digest,
)
from lednet_ros.inference.cuda_graphs import GraphedPipeline
from lednet_ros.inference.device import (
    TORCH_DTYPES,
    configure_torch,
    pipeline_dtype,
    resolve_device,
    resolve_precision,
)
from lednet_ros.inference.lru import LruCache
from lednet_ros.inference.options import DEFAULT_MODEL_SIZE, MIN_MODEL_SIDE, EngineOptions
from lednet_ros.inference.pixels import (
    ChannelOrder,
    check_image,
    classify_scores,
    model_input_size,
    resize,
    resize_uint8,
    upload,
)
from lednet_ros.inference.results import SegmentationResult, to_host
from lednet_ros.limits import check_model_size
from lednet_ros.model.checkpoint import load_weights
from lednet_ros.model.network import fold_batchnorm

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torch import Tensor

    from lednet_ros.model.classes import ClassConfig
    from lednet_ros.model.weights import Checkpoint, WeightsSpec

__all__ = ["ChannelOrder", "SegmentationEngine", "SegmentationResult"]

_LOG = logging.getLogger(__name__)

MAX_CUDA_GRAPHS = 16
"""Captured pipelines kept per engine (one per batch size and image shape), least recently used dropped."""

MAX_BACKEND_SESSIONS = 16
"""ONNX Runtime / OpenVINO sessions kept per kind (network per input shape, head per output size), likewise.

ONNX Runtime's sessions share one memory arena (see :mod:`lednet_ros.inference.backends`), so a
kept session costs little more than its graph."""

ORT_HEAD_PIXELS = 1 << 20
"""Outputs up to this many pixels (or up to the largest warmed-up image) use ONNX Runtime's head; larger ones PyTorch's.

ONNX Runtime's arena keeps a run's peak for good, and the head's grows with
its output (800 MB at 1920x1080 with confidence, 3.9 GB at 3840x2160): after
a burst of large frames the node stayed 300 MB to 900 MB above its warmed-up
size (issue 17). PyTorch's steps hand their memory back after each frame,
at about twice the head's time. A camera size named in the warm-up keeps
the faster head (its peak is then part of the warmed-up memory); the
arena's shrinkage run option was tried instead and freed too little
(1.5 GB kept after 3840x2160 frames; benchmarks/README.md)."""

_Wants = tuple[bool, bool, bool]
"""Which optional outputs a call asks for: (confidence, color, overlay)."""


class SegmentationEngine:
    """LEDNet inference on one device, from camera-shaped uint8 arrays.

    Args:
        checkpoint: a loaded :class:`~lednet_ros.model.weights.Checkpoint`, a
            path to a weights file, or None for ``options.weights`` (None
            there too: the packaged default).
        options: the engine's options (:class:`EngineOptions`); ``overrides``
            replace single fields of it by name, e.g. ``device="cpu"``.
        class_config: colours/names to draw with instead of the checkpoint's
            (must have the same number of classes).

    What each option means is :class:`EngineOptions`'s; how the engine
    carries them out: ``backend`` picks a runner of
    :mod:`lednet_ros.inference.backends`; ``cuda_graphs`` captures the whole
    pipeline (upload buffer to outputs) once per batch size and image shape,
    fed from pinned host buffers (:mod:`lednet_ros.inference.cuda_graphs`),
    so the first call at a shape pays for the capture; ``compile_network``
    lets TorchInductor fuse the activations, additions, splits and shuffles
    around the convolutions, and the first call at each shape compiles.

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
        options = replace(
            options or EngineOptions(), **overrides
        )  # an unknown name is a TypeError, as a keyword would be
        self.options = options
        self.checkpoint: Checkpoint = _checkpoint_of(checkpoint, options.weights)
        meta = self.checkpoint.meta
        self.device = resolve_device(options.device)
        self.model_size = _model_size(options.model_size or meta.train_size or DEFAULT_MODEL_SIZE)
        self.keep_aspect = options.keep_aspect
        if options.threads is not None:
            torch.set_num_threads(options.threads)
        self.num_threads = options.threads
        self.backend = resolve_backend(options.backend, self.device, options.precision)
        self.precision_name = resolve_precision(options.precision, self.device, self.backend)
        self.dtype = pipeline_dtype(self.precision_name, self.backend)
        if options.compile_network and self.backend != "torch":
            msg = f"compile_network needs the torch backend, not {self.backend!r}"
            raise LednetError(msg)
        self.compile_network = options.compile_network
        self.classes = _classes_for(meta, class_config)
        self.ignore_id = self.classes.ignore_id
        configure_torch(self.device, self.dtype)

        model = fold_batchnorm(self.checkpoint.build_model())
        self.channels_last = True
        self.model = model.to(self.device, self.dtype, memory_format=torch.channels_last).eval()
        self._network = (
            torch.compile(self.model.coarse_logits, dynamic=False) if self.compile_network else self.model.coarse_logits
        )
        # ONNX sessions per input shape and per output size, bounded like the CUDA graphs: a camera
        # that keeps changing resolution must not pile up sessions (each holds its graph and threads).
        self._runners: LruCache[tuple[int, ...], CoarseRunner] = LruCache(MAX_BACKEND_SESSIONS)
        self._heads: LruCache[tuple[tuple[int, ...], tuple[int, int], bool], HeadRunner] = LruCache(
            MAX_BACKEND_SESSIONS
        )
        self._digest = weights_digest(self.model) if self.backend != "torch" else ""
        self._ort_head = self.backend != "torch" and "onnxruntime" in available_backends()
        self.uses_cuda_graphs = options.cuda_graphs and self.device.type == "cuda" and self.backend == "torch"
        self._graphs: LruCache[tuple[int, int, int, int, bool], GraphedPipeline] = LruCache(MAX_CUDA_GRAPHS)
        self._graph_failures: set[tuple[int, int, int, int, bool]] = set()
        self._warmed_pixels = 0  # the largest image warmed up for: up to it, ONNX Runtime's head (see _classify)
        self._make_tables(meta)
        _LOG.info(
            "LEDNet engine: weights %s on %s (%s, %s%s%s), model size %dx%d%s",
            self.checkpoint.describe(), self.device, self.precision_name, self.backend,
            ", compiled" if self.compile_network else "", ", CUDA graphs" if self.uses_cuda_graphs else "",
            *self.model_size, ", keep aspect" if self.keep_aspect else "",
        )  # fmt: skip

    def _make_tables(self, meta: WeightsSpec) -> None:
        """The device-side constants: output channel -> label, label -> colour, mean and std."""
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

    @property
    def running_precision(self) -> str:
        """The precision the network computes in, as the backend reports it (``fp32``, ``fp16``, ``bf16``).

        OpenVINO's is read back from its most recently compiled model (before
        the first frame or warm-up, none is compiled: then ``precision_name``).
        """
        if self.backend == "torch":
            dtype = next(self.model.parameters()).dtype
            return next(name for name, candidate in TORCH_DTYPES.items() if candidate == dtype)
        runners = list(self._runners.values())
        return runners[-1].precision if runners else self.precision_name

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
            check_image(image)
        wants = (confidence, color, overlay)
        results: dict[int, SegmentationResult] = {}
        with torch.inference_mode():
            if self.uses_cuda_graphs:
                results = self._infer_graphed(images, orders, alpha, wants, at_model_size)
            eager = [i for i in range(len(images)) if i not in results]
            results.update(self._infer_eager(images, orders, eager, alpha, wants, at_model_size))
        return [results[i] for i in range(len(images))]

    def _infer_graphed(self, images: Sequence[np.ndarray], orders: Sequence[ChannelOrder], alpha: float,
                       wants: _Wants, at_model_size: bool) -> dict[int, SegmentationResult]:  # fmt: skip
        """Images by index, through one captured pipeline per shape; those whose capture failed are left out."""
        results: dict[int, SegmentationResult] = {}
        same_shape: dict[tuple[int, ...], list[int]] = {}
        for index, image in enumerate(images):
            same_shape.setdefault(image.shape, []).append(index)
        for shape, indices in same_shape.items():
            graphed = self._graphed(len(indices), shape, at_model_size)
            if graphed is None:
                continue
            outputs = graphed.run([images[i] for i in indices], [orders[i] for i in indices], alpha, wants)
            # Copies: the pinned buffers are overwritten by the next call.
            results.update(zip(indices, to_host(outputs, copy=True), strict=True))
        return results

    def _infer_eager(self, images: Sequence[np.ndarray], orders: Sequence[ChannelOrder], indices: Sequence[int],
                     alpha: float, wants: _Wants, at_model_size: bool) -> dict[int, SegmentationResult]:  # fmt: skip
        """The images at ``indices``, op by op: one forward pass per model input size."""
        results: dict[int, SegmentationResult] = {}
        groups: dict[tuple[int, int], list[int]] = {}
        for index in indices:
            image = images[index]
            size = model_input_size((image.shape[1], image.shape[0]), self.model_size, keep_aspect=self.keep_aspect)
            groups.setdefault(size, []).append(index)
        for size, group in groups.items():
            uploaded = [upload(images[i], orders[i], self.device) for i in group]
            coarse = self.coarse_logits(torch.cat([self._prepare(rgb, size) for rgb in uploaded]))
            for row, (i, rgb) in enumerate(zip(group, uploaded, strict=True)):
                shown = resize_uint8(rgb, size) if at_model_size else rgb
                results[i] = to_host(self._outputs(coarse[row : row + 1], shown, alpha, wants), copy=False)[0]
        return results

    def warm_up(self, image_sizes: Sequence[tuple[int, int]], batch: int = 1) -> None:
        """Run once at each (width, height) image size, so that the first real frame is not the slow one.

        The first call at a shape exports or loads the ONNX graph (ONNX
        backends), compiles the network (``compile_network``), captures the
        CUDA graph (``cuda_graphs``) and lets PyTorch pick its kernels. With
        ONNX Runtime it builds both heads (with and without confidence), since
        which one the first frame needs depends on who subscribes then.
        """
        self._warmed_pixels = max(self._warmed_pixels, *(w * h for w, h in image_sizes), 0)
        for width, height in image_sizes:
            for confidence in (False, True) if self._ort_head else (False,):
                self.infer_batch([np.zeros((height, width, 3), np.uint8)] * batch, confidence=confidence)

    # -- steps --------------------------------------------------------------

    def coarse_logits(self, batch: Tensor) -> Tensor:
        """The network on a prepared float batch (N x 3 x H x W, engine dtype): 1/8-resolution scores, on the engine's backend."""
        if self.backend == "torch":
            return self._network(batch.contiguous(memory_format=torch.channels_last))
        shape = tuple(batch.shape)
        runner = self._runners.get(shape)
        if runner is None:
            runner = make_runner(self.backend, self.model, self._digest, shape, self.num_threads, self.precision_name)  # type: ignore[arg-type]
            self._runners.put(shape, runner)
        return torch.from_numpy(runner(batch.float().contiguous().numpy()))

    def _prepare(self, rgb: Tensor, size: tuple[int, int]) -> Tensor:
        """uint8 RGB -> normalised float at the model size (width, height), in the engine's dtype.

        Resizing and normalising run in fp32 whatever the network's precision:
        on a GPU they cost next to nothing, and fp16 here would add its
        rounding to the network's.
        """
        x = resize(rgb.float().mul_(1.0 / 255.0), size)
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

        With the ONNX backends (when ONNX Runtime is installed) ONNX Runtime runs these steps
        (one image at a time), about twice as fast as PyTorch on the CPU, for
        outputs up to :data:`ORT_HEAD_PIXELS` or the largest warmed-up image;
        elsewhere they are PyTorch's, which a CUDA graph captures.
        """
        if self._ort_head and size[0] * size[1] <= max(ORT_HEAD_PIXELS, self._warmed_pixels):
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
        shown = resize_uint8(rgb, size) if at_model_size else rgb
        return self._outputs(coarse, shown, alpha, (True, True, True))

    def _graphed(self, batch: int, shape: tuple[int, ...], at_model_size: bool) -> GraphedPipeline | None:
        """The captured pipeline for ``batch`` images of ``shape``; None (eager) if capture failed before."""
        key = (batch, shape[0], shape[1], shape[2] if len(shape) == 3 else 1, at_model_size)
        graphed = self._graphs.get(key)
        if graphed is None and key not in self._graph_failures:
            try:
                graphed = GraphedPipeline(
                    lambda pixels, index, alpha: self._pipeline(pixels, index, alpha, at_model_size),
                    self.device,
                    key[:4],
                )
            except RuntimeError as exc:  # e.g. an operation that cannot be captured: stay correct, run eagerly
                _LOG.warning("CUDA graph capture failed for %s, running eagerly: %s", key, exc)
                self._graph_failures.add(key)
                torch.cuda.synchronize(self.device)
                return None
            self._graphs.put(key, graphed)
        return graphed


def _checkpoint_of(checkpoint: Checkpoint | str | os.PathLike[str] | None, weights: str | None) -> Checkpoint:
    """The weights to run: ``checkpoint`` (loaded if a path), else the file ``weights``, else the packaged default."""
    if checkpoint is None or isinstance(checkpoint, (str, os.PathLike)):
        return load_weights(checkpoint or weights)
    return checkpoint


def _model_size(size: tuple[int, int]) -> tuple[int, int]:
    if min(size) < MIN_MODEL_SIDE:
        msg = f"model size {size[0]}x{size[1]} is too small (at least {MIN_MODEL_SIDE}x{MIN_MODEL_SIDE})"
        raise LednetError(msg)
    check_model_size(int(size[0]), int(size[1]))
    return (int(size[0]), int(size[1]))


def _classes_for(meta: WeightsSpec, class_config: ClassConfig | None) -> ClassConfig:
    """``class_config`` (None: the weights' own classes); refused unless it has as many classes as the weights."""
    classes = class_config or meta.classes
    if classes.num_classes != meta.classes.num_classes:
        msg = (
            f"class config {classes.name!r} has {classes.num_classes} classes, "
            f"weights {meta.name!r} predict {meta.classes.num_classes}"
        )
        raise LednetError(msg)
    return classes
