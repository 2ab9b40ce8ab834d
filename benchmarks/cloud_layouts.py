"""Build time and size of the semantic cloud in both layouts (``packed``, ``organized``) at 640x480 and 1280x720.

For each size, layout and stride: the time to build the points
(:func:`~lednet_ros.msgs.cloud.semantic_cloud` or
:func:`~lednet_ros.msgs.cloud.organized_cloud`, labels of the same size),
to lay them into the message fields (:func:`~lednet_ros.msgs.cloud.cloud_fields`:
one copy of one contiguous buffer), and, with ``--rclpy``, to make the
``PointCloud2`` and serialise it as a publisher does (``rclpy.serialization``),
which is where ros2/rclpy#763's per-point cost would show. Depth and labels
come from a synthetic street scene (its sky has no depth, about a quarter of
the pixels). Prints a Markdown table and writes the figures as JSON.

    python benchmarks/cloud_layouts.py --rclpy --out out/cloud_layouts.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import numpy as np

from lednet_ros.data.synthetic import street_scene
from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.cloud import Intrinsics, cloud_fields, organized_cloud, semantic_cloud

SIZES = ((640, 480), (1280, 720))
BUILDERS = {"packed": semantic_cloud, "organized": organized_cloud}


def median_ms(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``work`` in milliseconds, after one untimed call."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def serializer() -> Callable[[dict[str, object]], bytes] | None:
    """PointCloud2 from the fields, serialised as rclpy publishes it (None: rclpy not importable)."""
    try:
        from rclpy.serialization import serialize_message  # noqa: PLC0415 (optional column)
        from sensor_msgs.msg import PointCloud2, PointField  # noqa: PLC0415
    except ImportError:
        return None
    from lednet_ros.msgs.cloud import POINT_FIELDS  # noqa: PLC0415

    def serialize(fields: dict[str, object]) -> bytes:
        message = PointCloud2(**fields)
        message.fields = [PointField(name=n, offset=o, datatype=t, count=c) for n, o, t, c in POINT_FIELDS]
        return serialize_message(message)

    return serialize


def measure(width: int, height: int, stride: int, repeats: int, serialize: Any) -> list[dict[str, Any]]:
    """One row per layout for one size and stride."""
    scene = street_scene(width, height, seed=1)
    depth = scene.depth.astype(np.float32)
    labels = scene.labels
    palette = load_class_config().palette()
    intrinsics = Intrinsics(0.8 * width, 0.8 * width, width / 2, height / 2, width, height)
    rows = []
    for layout, build in BUILDERS.items():
        points = build(depth, intrinsics, labels, palette, stride=stride)
        fields = cloud_fields(points)
        row = {
            "size": f"{width}x{height}", "stride": stride, "layout": layout,
            "width": fields["width"], "height": fields["height"], "points": points.size,
            "valid": int(np.isfinite(points["z"]).sum()), "bytes": len(fields["data"]),  # type: ignore[arg-type]
            "build_ms": median_ms(lambda b=build: b(depth, intrinsics, labels, palette, stride=stride), repeats),
            "fields_ms": median_ms(lambda p=points: cloud_fields(p), repeats),
        }  # fmt: skip
        if serialize is not None:
            row["serialized_bytes"] = len(serialize(fields))
            row["serialize_ms"] = median_ms(lambda f=fields: serialize(f), repeats)
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    with_rclpy = "serialize_ms" in rows[0]
    head = "| size | stride | layout | W x H | valid points | data bytes | build ms | fields ms |"
    rule = "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |"
    if with_rclpy:
        head += " PointCloud2 + serialise ms |"
        rule += " ---: |"
    lines = [head, rule]
    for r in rows:
        line = (f"| {r['size']} | {r['stride']} | {r['layout']} | {r['width']} x {r['height']} | {r['valid']:,} | "
                f"{r['bytes']:,} | {r['build_ms']:.1f} | {r['fields_ms']:.1f} |")  # fmt: skip
        if with_rclpy:
            line += f" {r['serialize_ms']:.1f} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloud_layouts.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per figure (median)")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2], help="cloud_stride values")
    parser.add_argument("--rclpy", action="store_true", help="also time PointCloud2 creation and serialisation")
    parser.add_argument("--out", type=Path, help="JSON file for the figures")
    args = parser.parse_args(argv)
    serialize = serializer() if args.rclpy else None
    if args.rclpy and serialize is None:
        print("ERROR: --rclpy needs rclpy and sensor_msgs (run with the .venv's python)", file=sys.stderr)
        return 1
    rows = [row for width, height in SIZES for stride in args.strides
            for row in measure(width, height, stride, args.repeats, serialize)]  # fmt: skip
    print(table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
                  "numpy": np.__version__, "repeats": args.repeats, "rows": rows}  # fmt: skip
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
