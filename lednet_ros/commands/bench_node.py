"""``lednet-ros bench-node``: the segmentation node end to end, as a camera sees it.

What is measured is described in :mod:`lednet_ros.ros.node_bench`. With
``--transport-floor`` each size is also measured against an echo node (same
topics and QoS, no decoding or inference). Large images need a DDS
configuration for them (see README, "Large images"):
``FASTRTPS_DEFAULT_PROFILES_FILE`` is passed on to the node.

Prints a Markdown table and writes ``bench_node.md`` and ``bench_node.json``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from lednet_ros.commands.args import add_engine_arguments, engine_options, positive_int, run_guarded, size_argument
from lednet_ros.evaluation.report import write_results
from lednet_ros.ros.node_bench import NodeBenchSettings, loss_table, markdown_table, run

__all__ = ["build_parser", "main"]

PROG = "lednet-ros bench-node"

DEFAULTS = NodeBenchSettings()


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros bench-node`` (the model options included)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Measure the segmentation node end to end: latency, output rate, drops, CPU."
    )
    parser.add_argument("--sizes", type=size_argument, nargs="+", default=list(DEFAULTS.sizes), metavar="WxH")
    parser.add_argument("--rate", type=float, default=DEFAULTS.rate_hz,
                        help=f"publish rate in Hz (default: {DEFAULTS.rate_hz:g})")  # fmt: skip
    parser.add_argument("--frames", type=positive_int, default=DEFAULTS.frames,
                        help=f"frames per size (default: {DEFAULTS.frames})")  # fmt: skip
    parser.add_argument(
        "--cameras", type=positive_int, nargs="+", default=list(DEFAULTS.cameras), metavar="N",
        help="camera counts to measure, each served by one node with cameras:=[cam0..] "
        f"(default: {' '.join(map(str, DEFAULTS.cameras))})",
    )  # fmt: skip
    parser.add_argument("--transport-floor", action="store_true",
                        help="also measure an echo node (no inference) on the same topics: rclpy + DDS alone")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("out/bench"), metavar="DIR")
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros bench-node``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    settings = NodeBenchSettings(
        sizes=tuple(args.sizes), rate_hz=args.rate, frames=args.frames, cameras=tuple(args.cameras),
        transport_floor=args.transport_floor,
    )  # fmt: skip
    options = engine_options(args)

    def body() -> int:
        rows = run(settings, options)
        table = markdown_table(rows) + "\n\nWhere the measured frames went:\n\n" + loss_table(rows)
        command = "lednet-ros bench-node " + " ".join(argv if argv is not None else sys.argv[1:])
        print(table)
        md, js = write_results(args.out, "bench_node", command, table, {"rows": [asdict(r) for r in rows]})
        print(f"wrote {md} and {js}")
        return 0

    return run_guarded(PROG, body)
