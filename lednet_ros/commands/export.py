"""``lednet-ros export``: TorchScript and ONNX files of a checkpoint, verified.

The exported network is the inference form the engine runs: BatchNorm folded
into the convolutions, float32. Its input is ``N x 3 x H x W`` RGB in [0, 1]
(normalised with the checkpoint's mean/std when it has one) at the chosen
size, its output the ``N x C x H x W`` class scores; argmax gives the train
id (and a void output, if the checkpoint has one, means "ignore"). Each
file is run on random inputs and compared with PyTorch; the largest absolute
difference is printed and stored in ``export.json`` beside the files.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from lednet_ros.commands.args import positive_int, run_guarded, size_argument
from lednet_ros.errors import LednetError
from lednet_ros.model.checkpoint import Checkpoint, default_checkpoint, load_checkpoint
from lednet_ros.model.network import LEDNet, fold_batchnorm

__all__ = ["export_onnx", "export_torchscript", "main"]

PROG = "lednet-ros export"


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


def export_onnx(model: LEDNet, size: tuple[int, int], path: Path, batch: int = 1) -> float | None:
    """Export ``model`` to ONNX; return the max abs difference under ONNX Runtime (None without it).

    Raises:
        LednetError: the ONNX exporter's packages (onnx, onnxscript) are missing.
    """
    try:
        import onnxscript  # noqa: F401, PLC0415 (the dynamo exporter needs it)
    except ImportError:
        msg = "ONNX export needs the 'onnx' and 'onnxscript' packages (pip install onnx onnxscript)"
        raise LednetError(msg) from None
    example = _inputs(size, batch, 1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), input_names=["image"], output_names=["logits"], dynamo=True,
                                    verbose=False)  # fmt: skip
    program.save(str(path))
    try:
        import onnxruntime  # noqa: PLC0415
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        return max(
            float(np.abs(session.run(None, {"image": x.numpy()})[0] - model(x).numpy()).max())
            for x in _inputs(size, batch)
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros export``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export a checkpoint to TorchScript and/or ONNX at a fixed size, verified against PyTorch.",
    )
    parser.add_argument("--weights", metavar="FILE", help="weights file (default: the packaged weights)")
    parser.add_argument(
        "--size",
        type=size_argument,
        metavar="WxH",
        help="input size (default: the weights' training size, else 1024x512)",
    )
    parser.add_argument("--batch", type=positive_int, default=1, help="batch size baked into the files (default: 1)")
    parser.add_argument("--format", choices=["onnx", "torchscript", "both"], default="both")
    parser.add_argument(
        "--out", type=Path, default=Path("out/export"), metavar="DIR", help="output folder (default: out/export)"
    )
    args = parser.parse_args(argv)

    def body() -> int:
        checkpoint: Checkpoint = load_checkpoint(args.weights) if args.weights else default_checkpoint()
        size = args.size or checkpoint.meta.train_size or (1024, 512)
        model = fold_batchnorm(checkpoint.build_model()).float()
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"{checkpoint.meta.name.replace('.', '_')}_{size[0]}x{size[1]}"
        record: dict[str, object] = {
            "weights": checkpoint.describe(), "size": list(size), "batch": args.batch,
            "input": "image: float32 N x 3 x H x W, RGB in [0, 1]" + ("" if checkpoint.meta.mean is None else
                     f", then (x - {list(checkpoint.meta.mean)}) / {list(checkpoint.meta.std or ())}"),
            "output": "logits: float32 N x C x H x W; argmax = train id",
            "classes": list(checkpoint.meta.classes.names), "void_class": checkpoint.meta.void_class, "files": {},
        }  # fmt: skip
        files: dict[str, object] = record["files"]  # type: ignore[assignment]
        print(f"weights: {checkpoint.describe()}; exporting at {size[0]}x{size[1]}, batch {args.batch}")
        if args.format in ("torchscript", "both"):
            path = args.out / f"{stem}.torchscript.pt"
            error = export_torchscript(model, size, path, args.batch)
            files["torchscript"] = {"file": str(path), "max_abs_difference": error}
            print(f"  TorchScript {path}: max abs difference to PyTorch {error:.3g}")
        if args.format in ("onnx", "both"):
            path = args.out / f"{stem}.onnx"
            error_onnx = export_onnx(model, size, path, args.batch)
            files["onnx"] = {"file": str(path), "max_abs_difference": error_onnx}
            verdict = (
                "not verified (onnxruntime not installed)"
                if error_onnx is None
                else f"max abs difference to PyTorch {error_onnx:.3g} (ONNX Runtime)"
            )
            print(f"  ONNX {path}: {verdict}")
        (args.out / "export.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        return 0

    return run_guarded(PROG, body)
