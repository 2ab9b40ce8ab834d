"""``lednet-ros export``: TorchScript and ONNX files of a checkpoint, verified.

The files and their check are :mod:`lednet_ros.inference.export`'s; this
command parses the arguments and prints what was written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lednet_ros.commands.args import positive_int, run_guarded, size_argument
from lednet_ros.inference.export import EXPORT_FORMATS, export_checkpoint
from lednet_ros.inference.options import DEFAULT_MODEL_SIZE
from lednet_ros.model.checkpoint import load_weights

__all__ = ["main"]

PROG = "lednet-ros export"


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
        checkpoint = load_weights(args.weights)
        size = args.size or checkpoint.meta.train_size or DEFAULT_MODEL_SIZE
        print(f"weights: {checkpoint.describe()}; exporting at {size[0]}x{size[1]}, batch {args.batch}")
        formats = EXPORT_FORMATS if args.format == "both" else (args.format,)
        for exported in export_checkpoint(checkpoint, size, args.out, batch=args.batch, formats=formats):
            name = {"torchscript": "TorchScript", "onnx": "ONNX"}[exported.format]
            error = exported.max_abs_difference
            runtime = " (ONNX Runtime)" if exported.format == "onnx" else ""
            verdict = (
                "not verified (onnxruntime not installed)"
                if error is None
                else f"max abs difference to PyTorch {error:.3g}{runtime}"
            )
            print(f"  {name} {exported.path}: {verdict}")
        print(f"wrote {args.out / 'export.json'}")
        return 0

    return run_guarded(PROG, body)
