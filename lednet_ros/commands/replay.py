"""``lednet-ros replay``: a recorded drive through the live node, scored from the node's own output.

``lednet-ros evaluate`` runs the engine offline; this command measures what a
robot gets: latency, output rate, drops and the accuracy of the node's
output (see :mod:`lednet_ros.ros.replay`). Pacing: the recorded rate
(default), ``--rate K`` times it, ``--lockstep`` (each frame once the
previous one's labels are back) or ``--listen-only`` (``ros2 bag play``
publishes, this command times and scores).

Writes ``report.json``, ``report.md``, ``latency.png``, ``per_class_iou.png``,
``confusion.png`` and ``samples.png`` to ``--out``; ``--gif`` adds
``overlay.gif`` from the node's ``segmentation/overlay``; ``--record BAG``
writes what the node published to a new bag.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from lednet_ros.commands.args import (
    add_engine_arguments,
    add_max_pixels_argument,
    engine_options,
    positive_int,
    run_guarded,
)
from lednet_ros.data.bags import STORAGE_PLUGINS
from lednet_ros.ros.replay import ReplayOptions, replay
from lednet_ros.ros.topics import OUTPUTS

__all__ = ["build_parser", "main"]

PROG = "lednet-ros replay"
DEFAULTS = {f.name: f.default for f in fields(ReplayOptions)}
REPORT_FILES = ("report.json", "report.md", "latency.png", "per_class_iou.png", "confusion.png", "samples.png")


def _default(name: str) -> str:
    value = DEFAULTS[name]
    return " ".join(value) if isinstance(value, tuple) else f"{value:g}" if isinstance(value, float) else str(value)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros replay``; the defaults are :class:`ReplayOptions`'."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Replay a rosbag2 through the live segmentation node; latency, output rate, drops and accuracy.",
        epilog="With ROS 2 installed, the same figures from ros2 bag play: start the node, run "
        "'lednet-ros replay BAG --listen-only', then 'ros2 bag play BAG'.",
    )
    parser.add_argument("bag", type=Path, help="rosbag2 folder (or its .db3/.mcap file)")
    for name, text in [
        ("image_topic", "camera images"),
        ("label_topic", "ground truth, mono8 train ids or rgb8 colours; optional"),
        ("camera_info_topic", "replayed too when the bag has it"),
    ]:
        parser.add_argument(
            f"--{name.replace('_', '-')}", default=DEFAULTS[name], help=f"{text} (default: {_default(name)})"
        )
    parser.add_argument(
        "--segmentation-ns", default=DEFAULTS["segmentation_ns"], metavar="NS",
        help="where the node publishes labels, overlay, ... (default: /segmentation, the launch file's default)",
    )  # fmt: skip
    pacing = parser.add_mutually_exclusive_group()
    pacing.add_argument(
        "--rate", type=float, default=DEFAULTS["rate"], help="speed factor on the recorded rate (default: 1)"
    )
    pacing.add_argument(
        "--lockstep", action="store_true", help="send each frame when the previous one's labels are back"
    )
    pacing.add_argument(
        "--listen-only", action="store_true", help="publish nothing: time and score what ros2 bag play sends"
    )
    parser.add_argument(
        "--start-node", action="store_true", help="start segmentation_node for the replay (the model options apply)"
    )
    parser.add_argument("--max-frames", type=positive_int, metavar="N", help="replay only the first N frames")
    parser.add_argument("--record", type=Path, metavar="BAG", help="write the node's outputs to this new bag")
    parser.add_argument(
        "--record-outputs", nargs="+", choices=OUTPUTS, default=list(DEFAULTS["record_outputs"]), metavar="NAME",
        help=f"outputs --record writes (default: {_default('record_outputs')}; any of {', '.join(OUTPUTS)})",
    )  # fmt: skip
    parser.add_argument(
        "--storage", choices=sorted(STORAGE_PLUGINS), default=DEFAULTS["storage"], help="--record storage"
    )
    parser.add_argument("--gif", action="store_true", help="also write overlay.gif from the node's overlays")
    parser.add_argument(
        "--gif-frames",
        type=positive_int,
        default=DEFAULTS["gif_frames"],
        help=f"last N overlays in the GIF (default: {_default('gif_frames')})",
    )
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=DEFAULTS["samples"],
        help=f"frames shown in samples.png (default: {_default('samples')})",
    )
    for name, text in [
        ("wait", "seconds to wait for the node"),
        ("delay", "seconds between finding the node and the first frame, for other subscribers to match"),
        ("frame_timeout", "--lockstep: give up on a frame after this many seconds"),
        ("settle", "seconds to wait for the last outputs after the bag ends"),
        ("idle_timeout", "--listen-only: stop this many seconds after the last frame"),
    ]:
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=float,
            default=DEFAULTS[name],
            help=f"{text} (default: {_default(name)})",
        )
    parser.add_argument(
        "--out", type=Path, default=DEFAULTS["out"], metavar="DIR", help=f"output folder (default: {_default('out')})"
    )
    add_max_pixels_argument(parser)
    add_engine_arguments(parser)
    return parser  # fmt: skip


def replay_options(args: argparse.Namespace) -> ReplayOptions:
    """The :class:`ReplayOptions` the parsed arguments describe.

    Raises:
        ValueError: a value no replay can use (a rate of 0, a negative delay ...).
    """
    return ReplayOptions(**{f.name: getattr(args, f.name) for f in fields(ReplayOptions) if f.name != "record_outputs"},
                         record_outputs=tuple(args.record_outputs))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros replay``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = replay_options(args)
    except ValueError as exc:
        parser.error(str(exc))

    def body() -> int:
        report = replay(options, engine_options(args))
        out = options.out
        print((out / "report.md").read_text(encoding="utf-8"))
        files = [*REPORT_FILES, *(["overlay.gif"] if "gif" in report else [])]
        print(f"wrote {', '.join(str(out / f) for f in files if (out / f).exists())}")
        if "recorded" in report:
            print(f"recorded the node's outputs to {report['recorded']}")
        if report["replay"]["outputs_received"] == 0:
            print(f"{PROG}: error: no output came back from the node on {report['labels_topic']}", file=sys.stderr)
            return 1
        return 0

    return run_guarded(PROG, body)
