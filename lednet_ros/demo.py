"""``lednet-ros demo``: the quick start on a built-in default.

Generates a synthetic street scene (with exact ground truth), segments it
with the packaged weights (or ``--weights``), and writes to ``--out``:
``demo_input.png``, ``demo_ground_truth.png``, ``demo_labels.png``,
``demo_color.png``, ``demo_overlay.png`` and ``demo.md``, a short report that
says which weights were used and how well they did on this frame.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from lednet_ros.cli import add_alpha_argument, add_engine_arguments, engine_from_args, parse_size, run_guarded
from lednet_ros.image_files import write_png
from lednet_ros.synthetic import street_scene

__all__ = ["main"]

PROG = "lednet-ros demo"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros demo``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Segment a generated street scene and write PNGs and a report."
    )
    parser.add_argument("--out", type=Path, default=Path("out"), metavar="DIR", help="output folder (default: out)")
    parser.add_argument("--seed", type=int, default=0, help="scene seed (default: 0)")
    parser.add_argument(
        "--size", type=parse_size, default=(1024, 512), metavar="WxH", help="scene size (default: 1024x512)"
    )
    add_alpha_argument(parser)
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros demo``."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        engine = engine_from_args(args)
        frame = street_scene(*args.size, seed=args.seed)
        engine.infer(frame.image)  # warm-up, so the reported time is a steady-state one
        start = time.perf_counter()
        seg = engine.infer(frame.image, color=True, overlay=True, alpha=args.alpha)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        palette = engine.classes.palette()
        out: Path = args.out
        files = {
            "input": write_png(out / "demo_input.png", frame.image),
            "ground truth": write_png(out / "demo_ground_truth.png", palette[frame.labels]),
            "labels": write_png(out / "demo_labels.png", seg.labels),
            "colour mask": write_png(out / "demo_color.png", seg.color),  # type: ignore[arg-type]
            "overlay": write_png(out / "demo_overlay.png", seg.overlay),  # type: ignore[arg-type]
        }
        accuracy = float(np.mean(seg.labels == frame.labels))
        meta = engine.checkpoint.meta
        warning = (
            "**These weights are untrained** (random initialisation): the labels are "
            "meaningless (typically one class everywhere); the run only shows that the pipeline works."
            if not meta.trained
            else ""
        )
        lines = [
            "# lednet_ros demo",
            "",
            f"- weights: `{engine.checkpoint.describe()}`",
            f"- device: {engine.device} ({engine.precision_name}), model size {engine.model_size[0]}x{engine.model_size[1]}",
            f"- scene: synthetic street, seed {args.seed}, {args.size[0]}x{args.size[1]}",
            f"- pixel accuracy against the scene's ground truth: {accuracy:.1%}",
            f"- inference time (one frame, after warm-up): {elapsed_ms:.1f} ms",
            "",
            warning,
            "",
            "| file | what |",
            "| --- | --- |",
            *(f"| `{path.name}` | {what} |" for what, path in files.items()),
            "",
        ]
        report = out / "demo.md"
        report.write_text("\n".join(lines), encoding="utf-8")
        print(f"weights: {engine.checkpoint.describe()}")
        if not meta.trained:
            print("NOTE: no trained weights are shipped yet: this model is UNTRAINED, so its labels are meaningless "
                  "(an untrained LEDNet tends to predict one class everywhere).")  # fmt: skip
        print(f"segmented a {args.size[0]}x{args.size[1]} synthetic street scene in {elapsed_ms:.0f} ms on {engine.device}; "
              f"pixel accuracy {accuracy:.1%}")  # fmt: skip
        for what, path in files.items():
            print(f"  {what:<13} {path}")
        print(f"  {'report':<13} {report}")
        return 0

    return run_guarded(PROG, body)
