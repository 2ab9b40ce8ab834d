"""Where the network itself runs: PyTorch, ONNX Runtime or OpenVINO.

The engine does the steps around the network (channel order, resizing,
normalisation, upsampling, argmax, colours) in PyTorch; a backend maps a
float32 ``N x 3 x H x W`` batch to the network's ``N x C x H/8 x W/8`` class
scores. On the CPU, ONNX Runtime and OpenVINO run LEDNet's many small
convolutions faster than PyTorch does (1.5x to 2x eager PyTorch and 1.2x to
1.4x the folded channels_last network at 1024x512 on the two kinds of 2-core
development machine; see ``benchmarks/README.md``), so ``auto`` picks the first of
:data:`CPU_PREFERENCE` that is installed (ONNX Runtime comes with the
``.venv``; OpenVINO is optional) when the network runs in fp32, and of
:data:`BF16_CPU_PREFERENCE` when it runs in bf16; on CUDA it is always PyTorch.

With either ONNX backend (and ONNX Runtime installed) the steps after the
network (upsampling the scores to the output size, argmax, confidence) run in
ONNX Runtime, as a small second graph per
score shape and output size (:func:`make_head_runner`): on the CPU they are
about twice as fast as PyTorch's, which matters most when a small model
size is upsampled to a large camera image (the node's inference at
1920x1080 at a 512x256 model size takes about 125 ms on 2 cores
this way, about 173 ms with PyTorch's steps).

The ONNX backends need a graph of a fixed input shape: it is exported from
the folded network (:mod:`lednet_ros.inference.onnx_export`, about 2 s) the
first time a shape is seen and kept in a cache folder, keyed by a digest of the
weights and the shape, so the next start is fast. ``LEDNET_ROS_CACHE`` moves
the cache (default ``$XDG_CACHE_HOME/lednet_ros``, else ``~/.cache/lednet_ros``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from lednet_ros.cpu import CpuInfo, cpu_info
from lednet_ros.errors import LednetError
from lednet_ros.inference.onnx_export import ONNX_OPSET, export_coarse_onnx, export_head_onnx
from lednet_ros.inference.options import BACKENDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from lednet_ros.model.network import LEDNet

__all__ = [
    "BACKENDS",
    "BF16_CPU_PREFERENCE",
    "CPU_PREFERENCE",
    "OPENVINO_HINTS",
    "CoarseRunner",
    "HeadRunner",
    "available_backends",
    "cache_dir",
    "make_head_runner",
    "make_runner",
    "prune_cache",
    "resolve_backend",
    "weights_digest",
]

_LOG = logging.getLogger(__name__)

CPU_PREFERENCE = ("onnxruntime", "openvino", "torch")
"""``auto`` on the CPU in fp32, the fastest first, by ``lednet-ros bench`` on x86-64 (benchmarks/README.md):
ONNX Runtime leads at every size on the AVX-512 Xeon and ties OpenVINO at 1024x512 on the AVX2 EPYC."""

BF16_CPU_PREFERENCE = ("openvino", "torch")
"""``auto`` on a CPU with native bf16, the fastest first (benchmarks/README.md): OpenVINO's bf16 network
takes about half ONNX Runtime's fp32 time there, PyTorch's bf16 about as long as ONNX Runtime's fp32.
Without OpenVINO installed, ``auto`` precision keeps ONNX Runtime in fp32 (exact, and as fast)."""

_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
GRAPH_VERSION = 4
"""Part of every cached graph's name: bump it when the exported code (not the weights) changes."""

MAX_CACHED_GRAPHS = 64
"""Graphs kept in the cache folder; more are deleted, least recently used first."""

MAX_CACHE_BYTES = 512 << 20
"""Bytes of graphs kept in the cache folder (a network graph is about 4 MB, a head graph a few KB)."""


class CoarseRunner(Protocol):
    """Runs the network on one fixed input shape."""

    precision: str
    """What the backend reports it computes in (``fp32`` or ``bf16``), read back from it."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x 3 x H x W -> float32 N x C x H/8 x W/8 class scores."""
        ...


class HeadRunner(Protocol):
    """Upsamples one image's class scores to a fixed size and classifies each pixel."""

    def __call__(self, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """float32 1 x C x h x w scores -> int64 H x W argmax channel, uint8 H x W confidence (or None)."""
        ...


def available_backends() -> list[str]:
    """The backends whose package is installed, in :data:`BACKENDS` order."""
    return [name for name in BACKENDS if importlib.util.find_spec(_MODULES[name]) is not None]


def resolve_backend(name: str, device: torch.device, precision: str = "fp32", cpu: CpuInfo | None = None) -> str:
    """Turn ``auto`` (or a backend name) into a usable backend for ``device`` and the ``precision`` asked for.

    On the CPU, ``auto`` takes the first installed of :data:`BF16_CPU_PREFERENCE`
    when the network will run in bf16 (asked for, or ``auto`` on a CPU with
    native bf16 and OpenVINO installed), else of :data:`CPU_PREFERENCE`.
    ``cpu`` stands in for this machine's CPU (tests of other CPU kinds).

    Raises:
        LednetError: an unknown name, a backend that is not installed, or an
            ONNX backend asked for on CUDA.
    """
    name = name.strip().lower()
    if name == "auto":
        if device.type != "cpu":
            return "torch"
        installed = available_backends()
        wanted = precision.strip().lower()
        native = (cpu or cpu_info()).native_bf16
        bf16 = wanted == "bf16" or (wanted == "auto" and native and BF16_CPU_PREFERENCE[0] in installed)
        return next(b for b in (BF16_CPU_PREFERENCE if bf16 else CPU_PREFERENCE) if b in installed)
    if name not in BACKENDS:
        msg = f"unknown backend {name!r}: use auto, {', '.join(BACKENDS)}"
        raise LednetError(msg)
    if name not in available_backends():
        msg = f"backend {name!r} is not installed (pip install {name})"
        raise LednetError(msg)
    if name != "torch" and device.type != "cpu":
        msg = f"backend {name!r} runs on the CPU here; use backend 'torch' (or auto) on {device}"
        raise LednetError(msg)
    return name


def cache_dir() -> Path:
    """Folder for exported graphs (``LEDNET_ROS_CACHE``, else the XDG cache)."""
    if os.environ.get("LEDNET_ROS_CACHE"):
        return Path(os.environ["LEDNET_ROS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lednet_ros"


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a network's tensors (names, shapes, values): the cache key of its exported graphs."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


_fallback_dir: list[Path] = []
"""The private temporary cache of this process, once the real one turned out unwritable."""


def _cached_onnx(name: str, what: str, export: Callable[[Path], Path]) -> Path:
    """``cache_dir() / name``, exported by ``export(path)`` first if it is not there yet.

    A graph used is touched, and after each export the folder is pruned to
    :data:`MAX_CACHED_GRAPHS` files and :data:`MAX_CACHE_BYTES`, least
    recently used first: one head graph per output size, never removed, let
    a camera that changes resolution fill the disk (issue 17).
    """
    path = cache_dir() / name
    if path.is_file():
        _touch(path)
        return path
    if _fallback_dir and (_fallback_dir[0] / name).is_file():  # exported there before (a session was dropped)
        _touch(_fallback_dir[0] / name)
        return _fallback_dir[0] / name
    _LOG.info("exporting %s to %s (once)", what, path)
    try:
        exported = export(path)
    except OSError as exc:  # an unwritable cache must not stop the node: use one private temporary folder
        if not _fallback_dir:
            _fallback_dir.append(Path(tempfile.mkdtemp(prefix="lednet_ros_")))
            _LOG.warning("cannot write the cache %s (%s); using %s", path.parent, exc, _fallback_dir[0])
        exported = export(_fallback_dir[0] / name)
    prune_cache(exported.parent, keep=exported)
    return exported


def _touch(path: Path) -> None:
    """Mark a cached graph as just used (its modification time is the cache's LRU order)."""
    with contextlib.suppress(OSError):  # a read-only cache still serves; its order just stays as it was
        os.utime(path)


def prune_cache(folder: Path, *, keep: Path | None = None, max_files: int | None = None,
                max_bytes: int | None = None) -> list[Path]:  # fmt: skip
    """Delete the least recently used graphs of ``folder`` beyond the count and size bounds; the deleted paths.

    Only this package's graphs (``lednet_*.onnx``) are counted and deleted;
    ``keep`` (the graph just exported) never is. A graph deleted while a
    session of it is open is harmless: ONNX Runtime and OpenVINO read the
    file once, when the session is made. Bounds default to
    :data:`MAX_CACHED_GRAPHS` and :data:`MAX_CACHE_BYTES`.
    """
    max_files = MAX_CACHED_GRAPHS if max_files is None else max_files
    max_bytes = MAX_CACHE_BYTES if max_bytes is None else max_bytes
    graphs = []
    for path in folder.glob("lednet_*.onnx"):
        try:
            info = path.stat()
        except OSError:  # removed meanwhile (another process pruning)
            continue
        graphs.append((info.st_mtime_ns, info.st_size, path))
    graphs.sort(reverse=True)  # newest first
    deleted, count, total = [], 0, 0
    for _, size, path in graphs:
        count, total = count + 1, total + size
        if path == keep or (count <= max_files and total <= max_bytes):
            continue
        try:
            path.unlink()
            deleted.append(path)
        except OSError as exc:
            _LOG.info("cannot remove the cached graph %s (%s)", path, exc)
    if deleted:
        _LOG.info("removed %d least recently used graph(s) from %s", len(deleted), folder)
    return deleted


def _onnx_file(model: LEDNet, digest: str, shape: tuple[int, int, int, int]) -> Path:
    n, _, h, w = shape
    return _cached_onnx(f"lednet_{digest[:16]}_{n}x3x{h}x{w}_opset{ONNX_OPSET}_v{GRAPH_VERSION}.onnx",
                        "the network for this weights and input shape",
                        lambda path: export_coarse_onnx(model, shape, path))  # fmt: skip


_shared_arena: list[bool] = []
"""Whether this process registered ONNX Runtime's shared CPU arena (decided once)."""
_shared_arena_lock = threading.Lock()


def _use_shared_arena(onnxruntime: Any) -> bool:
    """Register one CPU memory arena for all of this process's sessions (once); False if that failed.

    Each session otherwise keeps its own arena at the peak of its largest run:
    a head at 1920x1080 with confidence holds about 800 MB, so every output size
    and every network shape would add its own. Shared, the sessions (which run
    one after another) reuse the same memory, and the process holds about the
    largest single run's peak (1920x1080 head plus a 1024x512 network: 903 MiB
    shared against 1304 MiB separate).
    """
    with _shared_arena_lock:
        if not _shared_arena:
            try:
                info = onnxruntime.OrtMemoryInfo("Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                                 onnxruntime.OrtMemType.DEFAULT)  # fmt: skip
                onnxruntime.create_and_register_allocator(info, onnxruntime.OrtArenaCfg(0, -1, -1, -1))
                _shared_arena.append(True)
            except Exception as exc:  # e.g. registered already by other code in this process: per-session arenas
                _LOG.info("ONNX Runtime's shared CPU arena is not available (%s); each session keeps its own", exc)
                _shared_arena.append(False)
        return _shared_arena[0]


def _onnxruntime_session(path: Path, threads: int | None) -> object:
    import onnxruntime  # noqa: PLC0415 (optional backend)

    options = onnxruntime.SessionOptions()
    if _use_shared_arena(onnxruntime):
        options.add_session_config_entry("session.use_env_allocators", "1")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    # ORT's idle workers spin for a while after each run by default. The engine's
    # next steps (PyTorch's, or the head's own session) follow at once on the same
    # cores and ran about 2x slower under the spinning (1024x512 on 2 cores with
    # PyTorch's upsampling: end to end 211-219 ms spinning, 179-184 ms not, for
    # +6 ms in the network).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class _OnnxRuntimeRunner:
    precision = "fp32"  # the CPU provider runs an fp32 graph in fp32; it has no precision switch

    def __init__(self, path: Path, threads: int | None) -> None:
        self._session = _onnxruntime_session(path, threads)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"image": batch})[0]  # type: ignore[attr-defined]


class _OnnxRuntimeHead:
    def __init__(self, path: Path, threads: int | None, confidence: bool) -> None:
        self._session = _onnxruntime_session(path, threads)
        self._confidence = confidence

    def __call__(self, coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        outputs = self._session.run(None, {"logits": coarse})  # type: ignore[attr-defined]
        return outputs[0][0], outputs[1][0] if self._confidence else None


OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16"}
"""The engine's precision -> OpenVINO's ``INFERENCE_PRECISION_HINT``."""


class _OpenVinoRunner:
    def __init__(self, path: Path, threads: int | None, precision: str) -> None:
        import openvino  # noqa: PLC0415 (optional backend)

        # The hint is always set: on CPUs with native bf16 (AVX512_BF16, AMX) OpenVINO's CPU plugin
        # otherwise defaults to bf16, which flipped about 1% of a test network's labels under "fp32".
        config: dict[str, object] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision],
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = openvino.Core().compile_model(str(path), "CPU", config)
        self._request = self._compiled.create_infer_request()
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")  # an openvino.Type: "f32", "bf16", ...
        name = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.precision = next((ours for ours, theirs in OPENVINO_HINTS.items() if theirs == name), name)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self._request.infer({0: batch})
        return self._request.get_output_tensor(0).data.copy()


def make_runner(backend: str, model: LEDNet, digest: str, shape: tuple[int, int, int, int],
                threads: int | None = None, precision: str = "fp32") -> CoarseRunner:  # fmt: skip
    """A runner of ``backend`` ('onnxruntime' or 'openvino') for one input shape (exported or cached graph).

    ``precision`` is what the engine resolved (OpenVINO: fp32 or bf16; ONNX Runtime: fp32).

    Raises:
        LednetError: unknown backend, or the export or the backend failed.
    """
    path = _onnx_file(model, digest, shape)
    try:
        if backend == "onnxruntime":
            return _OnnxRuntimeRunner(path, threads)
        if backend == "openvino":
            return _OpenVinoRunner(path, threads, precision)
    except Exception as exc:  # a corrupt cached file, an unsupported CPU ...: one clear error
        msg = f"backend {backend!r} cannot load {path}: {type(exc).__name__}: {exc} (delete the file to re-export)"
        raise LednetError(msg) from None
    msg = f"no runner for backend {backend!r}"
    raise LednetError(msg)


def make_head_runner(coarse_shape: tuple[int, int, int, int], size: tuple[int, int], confidence: bool,
                     threads: int | None = None) -> HeadRunner:  # fmt: skip
    """ONNX Runtime's upsampling, argmax and confidence for one score shape and output size (height, width).

    Twice as fast as the same PyTorch steps on the CPU (its resize and
    reductions run on all cores; 1024x512 with 19 classes on 2 cores: 29 ms
    against 57 ms), so both ONNX backends use them.

    Raises:
        LednetError: the export or ONNX Runtime failed.
    """
    n, c, h, w = coarse_shape
    path = _cached_onnx(f"lednet_head_{n}x{c}x{h}x{w}_to_{size[0]}x{size[1]}_{'conf' if confidence else 'labels'}"
                        f"_opset{ONNX_OPSET}_v{GRAPH_VERSION}.onnx", "the upsampling and argmax",
                        lambda p: export_head_onnx(coarse_shape, size, confidence, p))  # fmt: skip
    try:
        return _OnnxRuntimeHead(path, threads, confidence)
    except Exception as exc:
        msg = f"ONNX Runtime cannot load {path}: {type(exc).__name__}: {exc} (delete the file to re-export)"
        raise LednetError(msg) from None
