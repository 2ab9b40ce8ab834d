"""Render the semantic point cloud of one frame of a bag (top and side views) to a PNG.

Takes the first colour frame, aligned depth frame and depth camera_info of an
RGB-D bag (``lednet-ros synth --bag`` writes one), segments the colour frame
with the engine and builds the cloud with the code the node uses
(:func:`lednet_ros.msgs.cloud.semantic_cloud`), then draws it coloured by
class. It also prints the time one cloud takes to build.

    python benchmarks/render_cloud.py BAG --out cloud.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import numpy as np

from lednet_ros.commands.args import add_engine_arguments, engine_options, run_guarded
from lednet_ros.data.bags import (
    CAMERA_INFO_TYPE,
    DEFAULT_DEPTH_INFO_TOPIC,
    DEFAULT_DEPTH_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    IMAGE_TYPE,
    decode_message,
    open_bag,
    require_topic,
)
from lednet_ros.evaluation.report import pyplot
from lednet_ros.msgs.cloud import Intrinsics, decode_depth, semantic_cloud

PROG = "render_cloud.py"


def first_messages(bag: Path, image_topic: str, depth_topic: str, info_topic: str) -> list[Any]:
    """The first colour image, depth image and depth camera_info of ``bag``."""
    first: dict[str, Any] = {}
    reader = open_bag(bag)
    try:
        present = {c.topic: c.msgtype for c in reader.connections}
        require_topic(bag, present, image_topic, (IMAGE_TYPE,), "a colour image")
        require_topic(bag, present, depth_topic, (IMAGE_TYPE,), "a depth image")
        require_topic(bag, present, info_topic, (CAMERA_INFO_TYPE,), "camera_info")
        topics = (image_topic, depth_topic, info_topic)
        connections = [c for c in reader.connections if c.topic in topics]
        for connection, _, raw in reader.messages(connections=connections):
            first.setdefault(connection.topic, reader.deserialize(raw, connection.msgtype))
            if len(first) == len(topics):
                break
    finally:
        reader.close()
    return [first[t] for t in topics]


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("bag", type=Path, help="rosbag2 folder with colour, depth and depth camera_info topics")
    parser.add_argument("--image-topic", default=DEFAULT_IMAGE_TOPIC)
    parser.add_argument("--depth-topic", default=DEFAULT_DEPTH_TOPIC)
    parser.add_argument("--depth-info-topic", default=DEFAULT_DEPTH_INFO_TOPIC)
    parser.add_argument("--stride", type=int, default=2, help="every N-th depth row and column (default: 2)")
    parser.add_argument("--max-range", type=float, default=40.0, help="metres drawn (default: 40)")
    parser.add_argument("--out", type=Path, default=Path("out/cloud.png"), help="PNG to write")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        image, depth, info = first_messages(args.bag, args.image_topic, args.depth_topic, args.depth_info_topic)
        engine = engine_options(args).build_engine()
        decoded = decode_message(image)
        labels = engine.infer(
            np.ascontiguousarray(decoded.pixels), order=decoded.order if decoded.order == "bgr" else "rgb"
        ).labels
        metres = decode_depth(depth.encoding, depth.height, depth.width, depth.step, depth.is_bigendian, depth.data)
        intrinsics = Intrinsics.from_camera_info(info.k, info.width, info.height)
        started = time.perf_counter()
        points = semantic_cloud(metres, intrinsics, labels, engine.classes.palette(), stride=args.stride)
        build_ms = (time.perf_counter() - started) * 1000.0
        rgb = points["rgb"].view(np.uint32)
        colours = np.stack([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255], axis=1) / 255.0
        near = points["z"] < args.max_range
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
        axes[0].imshow(decoded.rgb())
        axes[0].set_title(f"colour frame ({args.image_topic})")
        axes[0].axis("off")
        axes[1].scatter(points["x"][near], points["z"][near], c=colours[near], s=0.3)
        axes[1].set(xlabel="x (m, right)", ylabel="z (m, forward)", aspect="equal",
                    title=f"top view: {near.sum()} of {len(points)} points, z < {args.max_range:g} m")  # fmt: skip
        axes[2].scatter(points["z"][near], -points["y"][near], c=colours[near], s=0.3)
        axes[2].set(xlabel="z (m, forward)", ylabel="-y (m, up)", aspect="equal", title="side view")
        fig.tight_layout()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=80)
        print(f"{len(points)} points from a {depth.width}x{depth.height} depth frame (stride {args.stride}) "
              f"in {build_ms:.1f} ms; wrote {args.out}")  # fmt: skip
        return 0

    return run_guarded(PROG, body)


if __name__ == "__main__":
    raise SystemExit(main())
