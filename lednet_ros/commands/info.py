"""``lednet-ros info``: what a weights file holds, and what this machine offers.

Prints the checkpoint's metadata (name, format, classes, normalisation,
provenance, parameter count) and the torch/CUDA versions and devices, so a
user can check a file and an install before starting the node.
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from lednet_ros.commands.args import run_guarded
from lednet_ros.cpu import cpu_info
from lednet_ros.model.checkpoint import load_weights
from lednet_ros.model.network import count_parameters

__all__ = ["main"]

PROG = "lednet-ros info"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros info``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Show a weights file's metadata and this machine's devices."
    )
    parser.add_argument("--weights", metavar="FILE", help="weights file to inspect (default: the packaged weights)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)

    def body() -> int:
        checkpoint = load_weights(args.weights)
        meta = checkpoint.meta
        info = {
            "weights": checkpoint.describe(),
            "format": checkpoint.source_format,
            "parameters": count_parameters(checkpoint.build_model()),
            "meta": meta.to_dict(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda_available": torch.cuda.is_available(),
            "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            "cpu": cpu_info().model,
            "cpu_flags": cpu_info().reported_flags(),
            "cpu_native_bf16": cpu_info().native_bf16,
        }
        if args.json:
            print(json.dumps(info, indent=2))
            return 0
        print(f"weights:     {info['weights']}")
        print(f"parameters:  {info['parameters']:,}")
        print(f"outputs:     {meta.num_classes} ({meta.classes.name}: {', '.join(meta.classes.names)})"
              + (f"; output {meta.void_class} is void -> {meta.classes.ignore_id}" if meta.void_class is not None else ""))  # fmt: skip
        print(f"right half:  {'mirrored (authors)' if meta.mirrored_right else 'not mirrored (pytorchcv)'}")
        print(f"normalise:   {'none (RGB in [0, 1])' if meta.mean is None else f'mean {meta.mean}, std {meta.std}'}")
        size = meta.train_size
        print(f"trained at:  {'unknown' if size is None else f'{size[0]}x{size[1]}'}; trained: {meta.trained}")
        print(f"provenance:  {json.dumps(meta.provenance)}")
        print(f"torch:       {info['torch']} (python {info['python']}); CUDA: "
              + (", ".join(info["cuda_devices"]) if info["cuda_devices"] else "not available"))  # fmt: skip
        print(f"CPU:         {info['cpu'] or 'unknown'} ({', '.join(info['cpu_flags']) or 'no listed flags'}); "
              f"native bf16: {'yes' if info['cpu_native_bf16'] else 'no'}")  # fmt: skip
        return 0

    return run_guarded(PROG, body)
