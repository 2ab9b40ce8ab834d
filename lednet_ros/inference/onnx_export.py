"""The one ONNX exporter: a module at one fixed input shape to an ``.onnx`` file.

Every ONNX file of the package comes from :func:`export_onnx`: the graphs the
ONNX backends run (the network's 1/8-resolution scores, and the head that
upsamples and classifies them; cached by :mod:`lednet_ros.inference.backends`)
and the files ``lednet-ros export`` writes (:mod:`lednet_ros.inference.export`).
It uses the TorchScript-based exporter (``dynamo=False``): it needs only
torch, takes about 2 s for LEDNet, and a fixed shape is all the engine asks
for.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lednet_ros.errors import LednetError
from lednet_ros.inference.pixels import classify_scores

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lednet_ros.model.network import LEDNet

__all__ = ["ONNX_OPSET", "export_coarse_onnx", "export_head_onnx", "export_onnx"]

ONNX_OPSET = 17


def export_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path, *, inputs: Sequence[str],
                outputs: Sequence[str], what: str) -> Path:  # fmt: skip
    """Export ``module`` at ``example``'s shape to ``path`` (opset :data:`ONNX_OPSET`), atomically.

    The file is written next to ``path`` and renamed, so a crash or a failed
    export never leaves a partial graph where a cache or a user would read it.

    Raises:
        LednetError: the exporter failed (its message is included; ``what``
            names the thing exported).
        OSError: the folder cannot be created or written (callers with a
            fallback folder need to tell this apart).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation warnings: the shape is fixed on purpose
            torch.onnx.export(module, (example,), temporary, input_names=list(inputs), output_names=list(outputs),
                              opset_version=ONNX_OPSET, dynamo=False)  # fmt: skip
        Path(temporary).chmod(0o644)  # mkstemp's file is private (0600); an exported graph is meant to be shared
        Path(temporary).replace(path)
    except Exception as exc:
        Path(temporary).unlink(missing_ok=True)
        msg = f"exporting {what} to ONNX failed: {type(exc).__name__}: {exc}"
        raise LednetError(msg) from None
    return path


class _Coarse(torch.nn.Module):
    """The network up to its 1/8-resolution scores (what the backends run)."""

    def __init__(self, model: LEDNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.coarse_logits(x)


def export_coarse_onnx(model: LEDNet, shape: tuple[int, int, int, int], path: Path) -> Path:
    """Export ``model.coarse_logits`` at ``shape`` (N, 3, H, W) to ONNX: input ``image``, output ``logits``.

    Raises:
        LednetError: the exporter failed.
    """
    cpu_model = _Coarse(model).to("cpu", torch.float32).eval()
    return export_onnx(cpu_model, torch.zeros(shape), path, inputs=["image"], outputs=["logits"],
                       what=f"the network at {shape}")  # fmt: skip


class _Head(torch.nn.Module):
    """:func:`~lednet_ros.inference.pixels.classify_scores` at one output size, as a module to export."""

    def __init__(self, size: tuple[int, int], confidence: bool) -> None:
        super().__init__()
        self.size = size
        self.confidence = confidence

    def forward(self, coarse: torch.Tensor) -> tuple[torch.Tensor, ...]:
        channel, confidence = classify_scores(coarse, self.size, self.confidence)
        return (channel,) if confidence is None else (channel, confidence)


def export_head_onnx(coarse_shape: tuple[int, int, int, int], size: tuple[int, int], confidence: bool,
                     path: Path) -> Path:  # fmt: skip
    """Export the upsampling to ``size`` (height, width), argmax and confidence of ``coarse_shape`` scores.

    Input ``logits``; outputs ``channel`` and, with ``confidence``, ``confidence``.

    Raises:
        LednetError: the exporter failed.
    """
    return export_onnx(_Head(size, confidence).eval(), torch.zeros(coarse_shape), path, inputs=["logits"],
                       outputs=["channel", "confidence"][: 1 + confidence],
                       what=f"the head {coarse_shape} -> {size}")  # fmt: skip
