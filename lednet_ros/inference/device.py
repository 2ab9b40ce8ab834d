"""Where and in what precision the engine runs, and the process-wide torch switches that go with it."""

from __future__ import annotations

import torch

from lednet_ros.cpu import CpuInfo, check_native_bf16, cpu_info
from lednet_ros.errors import LednetError
from lednet_ros.inference.options import PRECISIONS

__all__ = ["BF16_BACKENDS", "TORCH_DTYPES", "configure_torch", "pipeline_dtype", "resolve_device", "resolve_precision"]

BF16_BACKENDS = ("openvino", "torch")
"""CPU backends that run the network in bf16 (ONNX Runtime's CPU provider has no bf16 convolutions)."""

TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
"""A resolved precision's torch dtype (PyTorch's network and input)."""


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


def resolve_precision(precision: str, device: torch.device, backend: str = "torch", cpu: CpuInfo | None = None) -> str:
    """The precision the network runs in on ``device`` with ``backend``: ``fp32``, ``fp16`` or ``bf16``.

    ``auto`` is fp16 on CUDA; on the CPU it is bf16 where the CPU has native
    bf16 (:mod:`lednet_ros.cpu`) and the backend runs it (:data:`BF16_BACKENDS`),
    fp32 elsewhere. Explicit requests the hardware or the backend cannot honour
    are refused rather than quietly run in another precision.

    ``cpu`` stands in for this machine's CPU (tests of other CPU kinds).

    Raises:
        LednetError: an unknown precision, fp16 without CUDA, or bf16 on CUDA,
            on a CPU without native bf16 or with a backend that has no bf16.
    """
    name = precision.strip().lower()
    cpu = cpu or cpu_info()
    if name == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if cpu.native_bf16 and backend in BF16_BACKENDS else "fp32"
    if name == "fp32":
        return name
    if name == "fp16":
        if device.type != "cuda":
            msg = "precision 'fp16' needs a CUDA device (CPU convolutions in fp16 are slower than fp32)"
            raise LednetError(msg)
        return name
    if name == "bf16":
        if device.type != "cpu":
            msg = f"precision 'bf16' is for the CPU; on {device} use fp16 or fp32"
            raise LednetError(msg)
        check_native_bf16("precision 'bf16'", "fp32 or auto", cpu)
        if backend not in BF16_BACKENDS:
            msg = f"backend {backend!r} has no bf16 convolutions on the CPU; use backend {' or '.join(BF16_BACKENDS)}"
            raise LednetError(msg)
        return name
    msg = f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}"
    raise LednetError(msg)


def pipeline_dtype(precision: str, backend: str) -> torch.dtype:
    """The torch dtype of the engine's network input: ``precision``'s with PyTorch, float32 for the ONNX backends.

    ONNX Runtime and OpenVINO take the exported fp32 graph and float32 input;
    OpenVINO computes in bf16 inside when asked to (its precision hint).
    """
    return TORCH_DTYPES[precision] if backend == "torch" else torch.float32


def configure_torch(device: torch.device, dtype: torch.dtype) -> None:
    """Set torch's process-wide switches for running on ``device`` in ``dtype``; nothing on the CPU.

    On CUDA, cuDNN times its algorithms once per shape (``cudnn.benchmark``:
    the engine's shapes are fixed), and fp32 means fp32: cuDNN would
    otherwise run convolutions in TF32 (10-bit mantissa), which flipped 2.5%
    of a test network's labels at 1024x512. PyTorch's switches are
    process-wide, so these are too: TF32 stays off for every engine of the
    process once an fp32 engine ran on CUDA.
    """
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    if dtype == torch.float32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
