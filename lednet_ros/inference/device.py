"""Where and in what precision the engine runs, and the process-wide torch switches that go with it."""

from __future__ import annotations

import torch

from lednet_ros.errors import LednetError
from lednet_ros.inference.options import PRECISIONS

__all__ = ["configure_torch", "precision_name", "resolve_device", "resolve_precision"]


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


def precision_name(dtype: torch.dtype) -> str:
    """``fp16`` or ``fp32``."""
    return "fp16" if dtype == torch.float16 else "fp32"


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
