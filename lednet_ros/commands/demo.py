"""``lednet-ros demo``: the quick start on a built-in default.

Two parts. First it generates a synthetic street scene (with exact ground
truth), segments it with the packaged weights (or ``--weights``), and writes
to ``--out``: ``demo_input.png``, ``demo_ground_truth.png``,
``demo_labels.png``, ``demo_color.png``, ``demo_overlay.png`` and
``demo.md``, a short report that says which weights were used and how well
they did on this frame.

Then it runs the real thing: it generates a short synthetic drive as a
rosbag2 (``OUT/drive``, kept for the next run), starts ``segmentation_node``
in its own process, replays the bag through it at the recorded rate
(as ``lednet-ros replay`` does, with this command's model options, so
``--no-cuda-graphs`` or ``--compile`` reach the node) and writes the replay
report, its plots, ``overlay.gif`` of the node's overlays and ``node.log`` to
``OUT/replay``, printing the headline figures: mIoU of the node's output,
latency and output rate.
``--no-replay`` stops after the first part.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lednet_ros.commands.args import (
    add_alpha_argument,
    add_engine_arguments,
    engine_options,
    positive_int,
    run_guarded,
    size_argument,
)
from lednet_ros.data.generate import drive_is_current, generate_drive
from lednet_ros.data.image_files import write_png
from lednet_ros.data.synthetic import street_scene
from lednet_ros.evaluation.report import loss_text

if TYPE_CHECKING:
    from typing import Any

    from lednet_ros.inference.options import EngineOptions

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
        "--size", type=size_argument, default=(1024, 512), metavar="WxH", help="scene size (default: 1024x512)"
    )
    add_alpha_argument(parser)
    drive = parser.add_argument_group("the replay through the node")
    drive.add_argument("--no-replay", action="store_true", help="skip the bag replay through segmentation_node")
    drive.add_argument(
        "--drive-frames", type=positive_int, default=40, help="frames of the generated drive bag (default: 40)"
    )
    drive.add_argument(
        "--drive-size",
        type=size_argument,
        default=(640, 320),
        metavar="WxH",
        help="drive bag image size (default: 640x320)",
    )
    add_engine_arguments(parser)
    return parser


def run_replay(out: Path, engine: EngineOptions, *, frames: int, size: tuple[int, int], seed: int) -> dict[str, Any]:
    """Generate the drive bag (unless a matching one exists), replay it through a node started with ``engine``."""
    from lednet_ros.ros.replay import ReplayOptions, replay  # noqa: PLC0415 (ROS only for this part)

    drive = out / "drive"
    if drive_is_current(drive, frames, seed=seed, size=size):
        bag = drive / "bag"
    else:
        print(f"generating a {frames}-frame synthetic drive bag in {drive} ...")
        bag = generate_drive(drive, frames, seed=seed, size=size)
    print("starting segmentation_node and replaying the bag through it at the recorded rate ...")
    return replay(ReplayOptions(bag, out / "replay", start_node=True, gif=True), engine)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros demo``."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        options = engine_options(args)
        engine = options.build_engine()
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
            f"- device: {engine.device} ({engine.running_precision}, {engine.backend}), model size {engine.model_size[0]}x{engine.model_size[1]}",
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
            print("NOTE: these weights are UNTRAINED (random initialisation), so their labels are meaningless "
                  "(an untrained LEDNet tends to predict one class everywhere).")  # fmt: skip
        print(f"segmented a {args.size[0]}x{args.size[1]} synthetic street scene in {elapsed_ms:.0f} ms on {engine.device}; "
              f"pixel accuracy {accuracy:.1%}")  # fmt: skip
        for what, path in files.items():
            print(f"  {what:<13} {path}")
        print(f"  {'report':<13} {report}")
        if args.no_replay:
            return 0
        result = run_replay(args.out, options, frames=args.drive_frames, size=args.drive_size, seed=args.seed)
        figures = result["replay"]
        latency = figures["latency_ms"]
        print(
            f"replay through segmentation_node: {figures['outputs_received']} of {figures['frames_sent']} frames "
            f"came back at {figures['output_hz']} Hz (input {figures['input_hz']} Hz), latency p50 "
            f"{latency['p50']} ms / p95 {latency['p95']} ms; mIoU of the node's output {100 * result['miou']:.1f}% "
            f"on {result['frames']} frames"
        )
        if figures.get("losses"):
            print(f"  where frames went: {loss_text(figures['losses'])}")
        replay_dir = args.out / "replay"
        for name in ["report.md", "overlay.gif", "latency.png", "samples.png", "per_class_iou.png"]:
            if (replay_dir / name).exists():
                print(f"  {name:<17} {replay_dir / name}")
        if figures["outputs_received"] == 0:
            print(f"{PROG}: error: the node published nothing during the replay (see {replay_dir / 'node.log'})")
            return 1
        return 0

    return run_guarded(PROG, body)
