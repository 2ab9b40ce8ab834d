"""Latency of the engine next to plain eager PyTorch: the library behind ``lednet-ros bench``.

For each model size, several ways of running the same weights are timed in
one process, interleaved (one call of each per round), so machine noise hits
them alike and the ratio is meaningful:

* ``eager fp32``: the reference. ``LEDNet`` as built, BatchNorm unfolded,
  NCHW float32, input tensor prepared in advance, ``torch.no_grad()``, full
  resolution class scores out;
* ``engine model: BACKEND (PRECISION)``: the engine's network on each
  backend installed (PyTorch: BatchNorm folded, channels_last; ONNX Runtime
  and OpenVINO: the exported folded graph), on the same prepared input, with
  the same full-resolution scores out. With ``precision`` ``auto`` on the
  CPU there is a row per precision the backend runs here: fp32 everywhere,
  bf16 where the CPU has it natively (OpenVINO and PyTorch);
* ``engine end-to-end``: ``SegmentationEngine.infer_batch`` with the ``auto``
  backend and precision on uint8 images of that size: upload, scaling,
  network, upsampling, argmax, confidence, download.

The ranking depends on the CPU's instruction sets, so the environment names
the CPU and its flags (:mod:`lednet_ros.cpu`).

On CUDA the PyTorch rows come in pairs: launched op by op (``eager``) and
replayed as a CUDA graph (the model alone, captured here; end to end, the
engine's own captured pipeline), and with ``compile_network`` also through
``torch.compile``. A CUDA graph is what the engine uses by default there.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch convention)
from tqdm import tqdm

from lednet_ros.cpu import cpu_info
from lednet_ros.errors import LednetError
from lednet_ros.inference.backends import available_backends
from lednet_ros.inference.cuda_graphs import CapturedGraph, capture
from lednet_ros.inference.device import resolve_device, resolve_precision
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.inference.options import EngineOptions
from lednet_ros.model.checkpoint import load_weights
from lednet_ros.model.paper import PAPER_INPUT_SIZE
from lednet_ros.model.weights import Checkpoint

__all__ = ["BenchRow", "BenchSettings", "markdown_table", "run"]

REFERENCE = "eager fp32"

Variants = dict[str, Callable[[], object]]


@dataclass(frozen=True)
class BenchSettings:
    """What to time: every variant at every model size (width, height), ``batch`` images per call.

    ``backends``: the engine backends to time (None: every one installed
    that runs on the device). ``compile_network``: also time the network
    through ``torch.compile`` (with CUDA graph rows on CUDA).
    """

    sizes: tuple[tuple[int, int], ...] = (PAPER_INPUT_SIZE, (512, 256))
    iterations: int = 20
    warmup: int = 3
    batch: int = 1
    backends: tuple[str, ...] | None = None
    compile_network: bool = False


@dataclass(frozen=True)
class BenchRow:
    """Timing of one variant at one size (milliseconds per call)."""

    variant: str
    width: int
    height: int
    batch: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    fps: float
    speedup_vs_eager: float


def run(settings: BenchSettings, options: EngineOptions) -> tuple[list[BenchRow], dict[str, object]]:
    """Time every variant at every size; return the rows and the environment.

    ``options`` gives the weights, device, precision and threads; the model
    size, backend and compilation of each engine are the benchmark's.

    Raises:
        LednetError: unusable weights, device, precision or backend.
    """
    checkpoint = load_weights(options.weights)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    device = resolve_device(options.device)
    names = list(settings.backends or [b for b in available_backends() if device.type == "cpu" or b == "torch"])
    rows: list[BenchRow] = []
    environment: dict[str, object] = {}
    for width, height in settings.sizes:
        variants, auto = _variants(checkpoint, options, (width, height), names, settings)
        times = _time(variants, settings, device, f"{width}x{height}")
        reference = statistics.median(times[REFERENCE])
        for name, values in times.items():
            p50 = statistics.median(values)
            rows.append(BenchRow(
                variant=name, width=width, height=height, batch=settings.batch,
                p50_ms=round(p50, 2), p95_ms=round(float(np.percentile(values, 95)), 2),
                mean_ms=round(statistics.fmean(values), 2), fps=round(1000.0 * settings.batch / p50, 1),
                speedup_vs_eager=round(reference / p50, 2),
            ))  # fmt: skip
        environment = {
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_info().model,
            "cpu": cpu_info().model,
            "cpu_flags": cpu_info().reported_flags(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "weights": auto.checkpoint.describe(),
            "backends": names,
            "auto_backend": auto.backend,
            "auto_precision": auto.running_precision,
            "cuda_graphs": auto.uses_cuda_graphs,
            "iterations": settings.iterations,
            "warmup": settings.warmup,
        }
    environment["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    if torch.cuda.is_available():
        environment["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return rows, environment


def _variants(checkpoint: Checkpoint, options: EngineOptions, size: tuple[int, int], names: list[str],
              settings: BenchSettings) -> tuple[Variants, SegmentationEngine]:  # fmt: skip
    """The calls to time at model ``size``, the reference first, and the ``auto`` backend's engine."""
    width, height = size
    options = replace(options, model_size=size)
    device = resolve_device(options.device)
    auto = SegmentationEngine(checkpoint, options=options, backend="auto")
    # One engine per backend and precision; the end-to-end row uses the auto engine (reused when it is one of them).
    engines = {}
    for name in names:
        for precision in _precisions(name, options.precision, device, strict=settings.backends is not None):
            same = (auto.backend, auto.precision_name) == (name, precision)
            engines[name, precision] = auto if same else SegmentationEngine(checkpoint, options=options, backend=name,
                                                                             precision=precision)  # fmt: skip
    eager = checkpoint.build_model().to(device).eval()
    x_eager = torch.rand(settings.batch, 3, height, width, device=device)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(settings.batch)]

    def eager_call(model: torch.nn.Module = eager, x: torch.Tensor = x_eager) -> None:
        with torch.no_grad():
            model(x)

    variants: Variants = {REFERENCE: eager_call}
    for (name, _), engine in engines.items():
        x = x_eager.to(engine.dtype)
        variants[f"engine model: {name} ({engine.precision_name})"] = lambda e=engine, x=x: _model_call(e, x)
    graph_rows: Variants = {}
    if device.type == "cuda":
        cuda_rows, graph_rows = _cuda_variants(checkpoint, options, x_eager, images,
                                               compile_network=settings.compile_network)  # fmt: skip
        variants.update(cuda_rows)
    elif settings.compile_network:
        compiled = SegmentationEngine(checkpoint, options=options, backend="torch", compile_network=True)
        x = x_eager.to(compiled.dtype)
        variants[f"engine model: torch.compile ({compiled.precision_name})"] = lambda e=compiled, x=x: _model_call(e, x)
    variants[f"engine end-to-end: auto = {auto.backend} ({auto.precision_name}"
             f"{', CUDA graphs' if auto.uses_cuda_graphs else ''})"] = lambda: auto.infer_batch(images, confidence=True)  # fmt: skip
    variants.update(graph_rows)  # last: captured once every other row has run (see _cuda_variants)
    return variants, auto


def _precisions(backend: str, precision: str, device: torch.device, *, strict: bool) -> list[str]:
    """The precisions to time ``backend`` in: the one asked for, or with ``auto`` on the CPU each one it runs here.

    What a backend runs is :func:`~lednet_ros.inference.device.resolve_precision`'s
    to say; one it refuses is left out, unless ``strict`` (backends named on
    the command line) and the precision was named too.

    Raises:
        LednetError: ``strict``, and ``backend`` cannot run ``precision`` here.
    """
    wanted = ["fp32", "bf16"] if precision == "auto" and device.type == "cpu" else [precision]
    runs = []
    for name in wanted:
        try:
            runs.append(resolve_precision(name, device, backend))
        except LednetError:
            if strict and precision != "auto":
                raise
    return runs


def _model_call(engine: SegmentationEngine, x: torch.Tensor) -> torch.Tensor:
    """The same work as the eager reference: full-resolution fp32 scores (upsampled in fp32, as the engine does)."""
    with torch.inference_mode():
        coarse = engine.coarse_logits(x).float()
        return F.interpolate(coarse, size=x.shape[-2:], mode="bilinear", align_corners=True)


def _time(variants: Variants, settings: BenchSettings, device: torch.device, label: str) -> dict[str, list[float]]:
    """Milliseconds per call of each variant: ``warmup`` untimed rounds, then ``iterations`` timed ones."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(settings.warmup):
        for call in variants.values():
            call()
    for _ in tqdm(range(settings.iterations), desc=label, unit="round", disable=None):
        for name, call in variants.items():
            _synchronize(device)
            start = time.perf_counter()
            call()
            _synchronize(device)
            times[name].append((time.perf_counter() - start) * 1000.0)
    return times


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cuda_variants(checkpoint: Checkpoint, options: EngineOptions, x_eager: torch.Tensor, images: list[np.ndarray],
                   *, compile_network: bool) -> tuple[Variants, Variants]:  # fmt: skip
    """The CUDA-only rows: the model replayed as a CUDA graph (plain and compiled), and end to end without graphs.

    The model graphs are captured on their first call, which comes after every
    other row's first call in the warm-up round (they are last in the dict):
    on an H100 a graph captured here and then followed by cuDNN benchmark
    searches for other layouts and precisions (the fp32 eager reference)
    faulted on replay; the engine captures once all searches for its shapes
    are done, and so does this.
    """
    variants: Variants = {}
    graphs: Variants = {}
    for compiled in [False, True] if compile_network else [False]:
        engine = SegmentationEngine(checkpoint, options=options, backend="torch", compile_network=compiled)
        label = f"torch{'.compile' if compiled else ''} ({engine.precision_name})"
        x = x_eager.to(engine.dtype)
        # The scores stay alive as the graph's output.
        graphs[f"engine model: {label} + CUDA graph"] = _LazyGraph(lambda e=engine, x=x: _model_call(e, x))
        if compiled:
            variants[f"engine end-to-end: {label}, CUDA graphs"] = lambda e=engine: e.infer_batch(images)
    eager = SegmentationEngine(checkpoint, options=options, backend="torch", cuda_graphs=False)
    variants[f"engine end-to-end: torch ({eager.precision_name}), eager"] = lambda e=eager: e.infer_batch(images)
    return variants, graphs


class _LazyGraph:
    """A CUDA graph of ``fn``, captured on the first call and replayed on every call."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.graph: CapturedGraph[object] | None = None

    def __call__(self) -> object:
        if self.graph is None:
            with torch.inference_mode():
                self.graph = capture(self.fn)
        return self.graph.replay()


def markdown_table(rows: Sequence[BenchRow]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| size | batch | variant | p50 ms | p95 ms | mean ms | FPS | speed-up vs eager |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.width}x{r.height} | {r.batch} | {r.variant} | {r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.mean_ms:.2f} | {r.fps:.1f} | {r.speedup_vs_eager:.2f}x |"
        for r in rows
    ]
    return "\n".join(lines)
