"""What the /compressed twins add to the node's latency: raw outputs alone, then raw and twins subscribed.

Starts ``segmentation_node`` (packaged weights, CPU) in its own process,
publishes street scenes at ``--rate`` Hz with the current time as header
stamp, and measures stamp-to-arrival latency of ``segmentation/labels`` and
``segmentation/overlay`` in two phases: first with only the raw outputs
subscribed, then with their ``/compressed`` twins subscribed as well.
Prints a Markdown table (p50 and p95 ms, messages received) and writes it
as JSON.

    python benchmarks/compressed_latency.py --size 640x480 --rate 5 --seconds 20 --json out/compressed_latency.json
"""

from __future__ import annotations

import argparse
import array
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import numpy as np

from lednet_ros.data.synthetic import street_scene
from lednet_ros.inference.options import parse_size
from lednet_ros.ros.node_process import node_command, start_node_process, stop_node_process
from lednet_ros.ros.transport import apply_large_image_profile

NAMESPACE = "latency"
OUTPUTS = ("labels", "overlay")


def measure(node: object, image_pub: object, frames: list[np.ndarray], rate: float, seconds: float,
            latencies: dict[str, list[float]]) -> None:  # fmt: skip
    """Publish frames at ``rate`` Hz for ``seconds``, spinning in between; latencies fill as outputs arrive."""
    import rclpy  # noqa: PLC0415
    from sensor_msgs.msg import Image  # noqa: PLC0415

    for values in latencies.values():
        values.clear()
    end = time.monotonic() + seconds
    index = 0
    while time.monotonic() < end:
        pixels = frames[index % len(frames)]
        message = Image(height=pixels.shape[0], width=pixels.shape[1], encoding="rgb8", step=pixels.shape[1] * 3)
        message.data = array.array("B", pixels.tobytes())
        message.header.stamp = node.get_clock().now().to_msg()  # type: ignore[attr-defined]
        image_pub.publish(message)  # type: ignore[attr-defined]
        index += 1
        next_frame = time.monotonic() + 1.0 / rate
        while time.monotonic() < next_frame:
            rclpy.spin_once(node, timeout_sec=0.005)  # type: ignore[arg-type]
    settle = time.monotonic() + 2.0
    while time.monotonic() < settle:
        rclpy.spin_once(node, timeout_sec=0.01)  # type: ignore[arg-type]


def run_phases(node: object, image_pub: object, frames: list[np.ndarray], rate: float,
               seconds: float) -> list[dict[str, object]]:  # fmt: skip
    """The warm-up, then each phase: the latency of every subscribed output."""
    import rclpy  # noqa: PLC0415
    from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
    from sensor_msgs.msg import CompressedImage, Image  # noqa: PLC0415

    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    latencies: dict[str, list[float]] = {}

    def on_output(name: str, message: Image | CompressedImage) -> None:
        stamp = message.header.stamp.sec * 1e9 + message.header.stamp.nanosec
        latencies[name].append((node.get_clock().now().nanoseconds - stamp) / 1e6)  # type: ignore[attr-defined]

    def subscribe(name: str, kind: type) -> None:
        latencies[name] = []
        node.create_subscription(kind, f"/{NAMESPACE}/segmentation/{name}", lambda m: on_output(name, m), reliable)  # type: ignore[attr-defined]

    rows: list[dict[str, object]] = []
    for name in OUTPUTS:
        subscribe(name, Image)
    deadline = time.monotonic() + 120
    while image_pub.get_subscription_count() == 0 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        rclpy.spin_once(node, timeout_sec=0.1)  # type: ignore[arg-type]
    measure(node, image_pub, frames, rate, 5.0, latencies)  # warm-up
    for phase in ("raw only", "raw and /compressed"):
        if phase != "raw only":
            for name in OUTPUTS:
                subscribe(f"{name}/compressed", CompressedImage)
            measure(node, image_pub, frames, rate, 3.0, latencies)  # discovery of the new subscriptions
        measure(node, image_pub, frames, rate, seconds, latencies)
        for name, values in latencies.items():
            if values:
                rows.append({"phase": phase, "topic": f"segmentation/{name}", "messages": len(values),
                             "p50_ms": float(np.percentile(values, 50)),
                             "p95_ms": float(np.percentile(values, 95))})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480", help="camera WIDTHxHEIGHT")
    parser.add_argument("--rate", type=float, default=5.0, help="frames per second sent")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = parser.parse_args(argv)
    size = parse_size(args.size, 1)
    if size is None:
        parser.error(f"size {args.size!r} is not WIDTHxHEIGHT")
    width, height = size
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    apply_large_image_profile()
    import rclpy  # noqa: PLC0415
    from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
    from sensor_msgs.msg import Image  # noqa: PLC0415

    frames = [street_scene(width, height, seed=seed).image for seed in range(4)]
    command = node_command(f"/{NAMESPACE}", parameters={"device": "cpu", "warmup_image_sizes": [args.size]})
    process = start_node_process(command, Path(os.devnull))
    rclpy.init()
    node = rclpy.create_node("compressed_latency")
    image_pub = node.create_publisher(Image, f"/{NAMESPACE}/image", QoSProfile(depth=1,
                                      reliability=ReliabilityPolicy.BEST_EFFORT))  # fmt: skip
    try:
        rows = run_phases(node, image_pub, frames, args.rate, args.seconds)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop_node_process(process)
    print(f"{args.size}, {args.rate} Hz sent, {args.seconds} s a phase\n")
    print("| subscribed | topic | messages | latency p50 ms | latency p95 ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['phase']} | `{r['topic']}` | {r['messages']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"size": args.size, "rate": args.rate, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
