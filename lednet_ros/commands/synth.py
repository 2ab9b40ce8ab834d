"""``lednet-ros synth``: generate a synthetic street dataset, and optionally a bag.

The scenes, their files and the bag's topics are described in
:mod:`lednet_ros.data.generate`; this command parses the options and prints
what it wrote.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lednet_ros.commands.args import run_guarded
from lednet_ros.data.bags import STORAGE_PLUGINS
from lednet_ros.data.generate import generate_dataset
from lednet_ros.data.synthetic import SCENE_VERSION, SCENE_VERSIONS
from lednet_ros.inference.options import parse_size

__all__ = ["main"]

PROG = "lednet-ros synth"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros synth``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate synthetic street scenes with exact labels (Cityscapes layout, optional rosbag2).",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--frames", type=int, default=200, help="number of frames (default: 200)")
    parser.add_argument(
        "--seed", type=int, default=0, help="dataset seed; another seed gives a disjoint set (default: 0)"
    )
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--split", default="train", help="split folder name (default: train)")
    parser.add_argument("--city", default="synth", help="city folder name (default: synth)")
    parser.add_argument("--bag", action="store_true", help="also write a rosbag2 at OUT/bag")
    parser.add_argument(
        "--storage", choices=sorted(STORAGE_PLUGINS), default="sqlite3", help="bag storage (default: sqlite3)"
    )
    parser.add_argument("--fps", type=float, default=10.0, help="bag frame rate (default: 10)")
    parser.add_argument(
        "--scene-version", type=int, choices=SCENE_VERSIONS, default=SCENE_VERSION,
        help=f"scene generator version; an older one reproduces figures made with it (default: {SCENE_VERSION})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    size = parse_size(f"{args.width}x{args.height}") if args.width >= 16 and args.height >= 16 else None
    if size is None or args.frames < 1 or args.fps <= 0:
        parser.error("--width and --height must be at least 16, --frames at least 1, --fps positive")

    def body() -> int:
        summary = generate_dataset(args.out, args.frames, seed=args.seed, size=size, split=args.split,
                                   city=args.city, bag=args.bag, storage=args.storage, fps=args.fps,
                                   version=args.scene_version)  # fmt: skip
        print(f"wrote {args.frames} frames to {args.out}" + (f" and the bag {summary['bag']}" if args.bag else ""))
        never = summary["classes_never_drawn"]
        print(f"scene version {args.scene_version}; classes never drawn: {', '.join(never) or 'none'}")  # type: ignore[arg-type]
        return 0

    return run_guarded(PROG, body)
