"""TorchScript and ONNX files of a checkpoint's network, each verified against PyTorch.

The exported network is the inference form the engine runs: BatchNorm folded
into the convolutions, float32. Its input is ``N x 3 x H x W`` RGB in [0, 1]
(normalised with the checkpoint's mean/std when it has one) at a fixed size,
its output the ``N x C x H x W`` class scores; argmax gives the train id (and
a void output, if the checkpoint has one, means "ignore"). Each file is run
on random inputs and compared with PyTorch; :func:`export_checkpoint` records
the largest absolute difference in ``export.json`` beside the files.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from lednet_ros.inference.onnx_export import export_onnx
from lednet_ros.model.network import fold_batchnorm

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from lednet_ros.model.network import LEDNet
    from lednet_ros.model.weights import Checkpoint

__all__ = ["EXPORT_FORMATS", "ExportedFile", "export_checkpoint", "export_torchscript", "export_verified_onnx"]

EXPORT_FORMATS = ("torchscript", "onnx")


@dataclass(frozen=True)
class ExportedFile:
    """One written file and how far its outputs are from PyTorch's (None: not verified)."""

    format: str
    path: Path
    max_abs_difference: float | None


def _inputs(size: tuple[int, int], batch: int, count: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(batch, 3, size[1], size[0], generator=generator) for _ in range(count)]


def export_torchscript(model: LEDNet, size: tuple[int, int], path: Path, batch: int = 1) -> float:
    """Trace ``model`` at ``size`` (width, height), save it, reload it; return the max abs difference."""
    example = _inputs(size, batch, 1)[0]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches: the size is fixed
        traced = torch.jit.trace(model, example)
    traced.save(str(path))
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        return max(float((loaded(x) - model(x)).abs().max()) for x in _inputs(size, batch))


def export_verified_onnx(model: LEDNet, size: tuple[int, int], path: Path, batch: int = 1) -> float | None:
    """Export ``model`` to ONNX (input ``image``, output ``logits``); the max abs difference under ONNX Runtime.

    None when ONNX Runtime is not installed (the file is written all the same).

    Raises:
        LednetError: the exporter failed.
    """
    export_onnx(model.float().eval(), _inputs(size, batch, 1)[0], path, inputs=["image"], outputs=["logits"],
                what=f"the network at {size[0]}x{size[1]}")  # fmt: skip
    try:
        import onnxruntime  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        return max(
            float(np.abs(session.run(None, {"image": x.numpy()})[0] - model(x).numpy()).max())
            for x in _inputs(size, batch)
        )


def export_checkpoint(checkpoint: Checkpoint, size: tuple[int, int], out: Path, *, batch: int = 1,
                      formats: Sequence[str] = EXPORT_FORMATS) -> list[ExportedFile]:  # fmt: skip
    """Write ``formats`` of ``checkpoint``'s folded network at ``size`` into ``out``, verified, and ``export.json``.

    Raises:
        LednetError: an exporter failed.
        OSError: ``out`` cannot be written.
    """
    model = fold_batchnorm(checkpoint.build_model()).float()
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{checkpoint.meta.name.replace('.', '_')}_{size[0]}x{size[1]}"
    exported = []
    if "torchscript" in formats:
        path = out / f"{stem}.torchscript.pt"
        exported.append(ExportedFile("torchscript", path, export_torchscript(model, size, path, batch)))
    if "onnx" in formats:
        path = out / f"{stem}.onnx"
        exported.append(ExportedFile("onnx", path, export_verified_onnx(model, size, path, batch)))
    meta = checkpoint.meta
    record = {
        "weights": checkpoint.describe(), "size": list(size), "batch": batch,
        "input": "image: float32 N x 3 x H x W, RGB in [0, 1]" + ("" if meta.mean is None else
                 f", then (x - {list(meta.mean)}) / {list(meta.std or ())}"),
        "output": "logits: float32 N x C x H x W; argmax = train id",
        "classes": list(meta.classes.names), "void_class": meta.void_class,
        "files": {f.format: {"file": str(f.path), "max_abs_difference": f.max_abs_difference} for f in exported},
    }  # fmt: skip
    (out / "export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return exported
