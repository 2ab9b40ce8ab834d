"""Where the network itself runs: PyTorch, ONNX Runtime or OpenVINO.

The engine does everything around the network (channel order, resizing,
normalisation, upsampling, argmax, colours) in PyTorch; a backend only maps a
float32 ``N x 3 x H x W`` batch to the network's ``N x C x H/8 x W/8`` class
scores. On the CPU, ONNX Runtime and OpenVINO run LEDNet's many small
convolutions faster than PyTorch does (1.5x eager PyTorch, 1.2x the folded
channels_last network, at 1024x512 on the 2-core development machine; see
``benchmarks/README.md``), so
``auto`` picks the first of :data:`CPU_PREFERENCE` that is installed
(ONNX Runtime comes with the ``.venv``; OpenVINO is optional); on CUDA it is
always PyTorch.

The ONNX backends need a graph of a fixed input shape: it is exported from
the folded network (the TorchScript-based exporter, about 2 s) the first
time a shape is seen and kept in a cache folder, keyed by a digest of the
weights and the shape, so the next start is fast. ``LEDNET_ROS_CACHE`` moves
the cache (default ``$XDG_CACHE_HOME/lednet_ros``, else ``~/.cache/lednet_ros``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from lednet_ros.errors import LednetError

if TYPE_CHECKING:
    from lednet_ros.model import LEDNet

__all__ = [
    "BACKENDS",
    "CPU_PREFERENCE",
    "CoarseRunner",
    "available_backends",
    "cache_dir",
    "export_coarse_onnx",
    "make_runner",
    "resolve_backend",
    "weights_digest",
]

_LOG = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "openvino")
CPU_PREFERENCE = ("onnxruntime", "openvino", "torch")
"""``auto`` on the CPU, the fastest first, by ``lednet-ros bench`` on x86-64 (benchmarks/README.md):
ONNX Runtime and OpenVINO tie at 1024x512, ONNX Runtime leads at 512x256."""

_MODULES = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}
ONNX_OPSET = 17


class CoarseRunner(Protocol):
    """Runs the network on one fixed input shape."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x 3 x H x W -> float32 N x C x H/8 x W/8 class scores."""
        ...


def available_backends() -> list[str]:
    """The backends whose package is installed, in :data:`BACKENDS` order."""
    return [name for name in BACKENDS if importlib.util.find_spec(_MODULES[name]) is not None]


def resolve_backend(name: str, device: torch.device) -> str:
    """Turn ``auto`` (or a backend name) into a usable backend for ``device``.

    Raises:
        LednetError: an unknown name, a backend that is not installed, or an
            ONNX backend asked for on CUDA.
    """
    name = name.strip().lower()
    if name == "auto":
        if device.type != "cpu":
            return "torch"
        installed = available_backends()
        return next(b for b in CPU_PREFERENCE if b in installed)
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


class _Coarse(torch.nn.Module):
    """The network up to its 1/8-resolution scores (what the backends run)."""

    def __init__(self, model: LEDNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.coarse_logits(x)


def export_coarse_onnx(model: LEDNet, shape: tuple[int, int, int, int], path: Path) -> Path:
    """Export ``model.coarse_logits`` at ``shape`` (N, 3, H, W) to ONNX, atomically.

    Raises:
        LednetError: the exporter failed (its message is included).
    """
    cpu_model = _Coarse(model).to("cpu", torch.float32).eval()
    example = torch.zeros(shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings: the shape is fixed on purpose
            torch.onnx.export(cpu_model, (example,), temporary, input_names=["image"], output_names=["logits"],
                              opset_version=ONNX_OPSET, dynamo=False)  # fmt: skip
        Path(temporary).replace(path)
    except Exception as exc:
        Path(temporary).unlink(missing_ok=True)
        msg = f"exporting the network to ONNX at {shape} failed: {type(exc).__name__}: {exc}"
        raise LednetError(msg) from None
    return path


def _onnx_file(model: LEDNet, digest: str, shape: tuple[int, int, int, int]) -> Path:
    n, _, h, w = shape
    path = cache_dir() / f"lednet_{digest[:16]}_{n}x3x{h}x{w}_opset{ONNX_OPSET}.onnx"
    if not path.is_file():
        _LOG.info("exporting the network to %s (once per weights and input shape)", path)
        try:
            export_coarse_onnx(model, shape, path)
        except OSError as exc:  # an unwritable cache must not stop the node: use a private temporary folder
            fallback = Path(tempfile.mkdtemp(prefix="lednet_ros_")) / path.name
            _LOG.warning("cannot write the cache %s (%s); using %s", path.parent, exc, fallback)
            return export_coarse_onnx(model, shape, fallback)
    return path


class _OnnxRuntimeRunner:
    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime  # noqa: PLC0415 (optional backend)

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # ORT's idle workers spin for a while after each run by default. The engine's
        # PyTorch upsampling, argmax and confidence follow at once on the same cores,
        # and ran about 2x slower under the spinning (1024x512 on 2 cores: end to end
        # 211-219 ms with spinning, 179-184 ms without, for +6 ms in the network).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"image": batch})[0]


class _OpenVinoRunner:
    def __init__(self, path: Path, threads: int | None) -> None:
        import openvino  # noqa: PLC0415 (optional backend)

        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = openvino.Core().compile_model(str(path), "CPU", config)
        self._request = self._compiled.create_infer_request()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self._request.infer({0: batch})
        return self._request.get_output_tensor(0).data.copy()


def make_runner(backend: str, model: LEDNet, digest: str, shape: tuple[int, int, int, int],
                threads: int | None = None) -> CoarseRunner:  # fmt: skip
    """A runner of ``backend`` ('onnxruntime' or 'openvino') for one input shape (exported or cached graph).

    Raises:
        LednetError: unknown backend, or the export or the backend failed.
    """
    path = _onnx_file(model, digest, shape)
    try:
        if backend == "onnxruntime":
            return _OnnxRuntimeRunner(path, threads)
        if backend == "openvino":
            return _OpenVinoRunner(path, threads)
    except Exception as exc:  # a corrupt cached file, an unsupported CPU ...: one clear error
        msg = f"backend {backend!r} cannot load {path}: {type(exc).__name__}: {exc} (delete the file to re-export)"
        raise LednetError(msg) from None
    msg = f"no runner for backend {backend!r}"
    raise LednetError(msg)
