"""``lednet-ros bench-node``: the segmentation node end to end, as a camera sees it.

Starts ``segmentation_node`` in its own process (with ``--cameras N``, one
node serving N cameras through its ``cameras`` parameter), publishes ``bgr8`` frames of
each size at ``--rate`` Hz (best effort, like a camera driver), subscribes to
``segmentation/labels`` (reliable, like rviz2) and measures, per size:

* stamp-to-receive latency at the subscriber (p50, p95, max): the time from
  the frame's header stamp (set just before publishing) to its labels
  arriving, so it includes transport both ways, decoding, inference and
  encoding;
* sustained output rate, and the frames the node dropped (its diagnostics);
* the node's inference time (its diagnostics) and its CPU use (``/proc``);
* node overhead = latency p50 - inference p50;
* the node's own stamp-to-publish latency (its diagnostics), which leaves
  out the way back to the subscriber.

With ``--transport-floor`` each size is also measured against an echo node
instead (same topics and QoS, no decoding or inference: it republishes a
``mono8`` image of the input's size with the input's header), which gives the
floor that rclpy and the DDS transport alone put under any Python node.
Large images need a DDS configuration for them (see README, "Large images"):
``FASTRTPS_DEFAULT_PROFILES_FILE`` is passed on to the node.

DDS discovery stays on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``).
Prints a Markdown table and writes ``bench_node.md`` and ``bench_node.json``.
"""

from __future__ import annotations

import argparse
import array
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lednet_ros.commands.args import add_engine_arguments, engine_options, positive_int, run_guarded, size_argument
from lednet_ros.data.synthetic import street_scene
from lednet_ros.errors import LednetError
from lednet_ros.evaluation.report import write_results
from lednet_ros.evaluation.stats import percentiles
from lednet_ros.msgs.stamps import header_stamp_ns
from lednet_ros.ros.node_process import (
    cpu_seconds,
    engine_parameters,
    node_command,
    start_node_process,
    stop_node_process,
)

__all__ = ["NodeBenchRow", "main"]

PROG = "lednet-ros bench-node"


@dataclass(frozen=True)
class NodeBenchRow:
    """End-to-end figures of one input size."""

    width: int
    height: int
    cameras: int
    rate_hz: float
    sent: int
    received: int
    dropped_by_node: int
    output_hz: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    inference_p50_ms: float
    overhead_p50_ms: float
    node_cpu_percent: float
    node_latency_p50_ms: float = float("nan")
    process: str = "segmentation_node"


def echo_main() -> None:
    """The transport-floor stand-in for the node; arguments: the camera prefixes.

    Per prefix it subscribes ``PREFIX/image`` as the node does and answers
    each frame with a ``mono8`` image of its size on ``PREFIX/segmentation/labels``.
    """
    import rclpy  # noqa: PLC0415
    from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
    from sensor_msgs.msg import Image  # noqa: PLC0415

    from lednet_ros.ros.spinning import spin_until_shutdown  # noqa: PLC0415

    rclpy.init()
    node = rclpy.create_node("lednet_transport_echo")
    replies: dict[tuple[int, int], Image] = {}

    def answer(message: Image, publisher: object) -> None:
        reply = replies.get((message.width, message.height))
        if reply is None:
            reply = Image(height=message.height, width=message.width, encoding="mono8", step=message.width)
            reply.data = array.array("B", bytes(message.width * message.height))
            replies[(message.width, message.height)] = reply
        reply.header = message.header
        publisher.publish(reply)  # type: ignore[attr-defined]

    for prefix in sys.argv[1:]:
        publisher = node.create_publisher(Image, f"{prefix}/segmentation/labels",
                                          QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))  # fmt: skip
        node.create_subscription(Image, f"{prefix}/image", lambda m, p=publisher: answer(m, p),
                                 QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))  # fmt: skip
    try:
        spin_until_shutdown(node)
    finally:
        rclpy.try_shutdown()


def _measure(size: tuple[int, int], rate: float, frames: int, node_params: dict[str, Any], node_env: dict[str, str],
             cameras: int = 1, *, echo: bool = False) -> NodeBenchRow:  # fmt: skip
    import rclpy  # noqa: PLC0415 (ROS only for this command)
    from diagnostic_msgs.msg import DiagnosticArray  # noqa: PLC0415
    from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
    from sensor_msgs.msg import Image  # noqa: PLC0415

    namespace = f"bench_{os.getpid()}_{size[0]}x{size[1]}_{cameras}"
    names = [f"cam{i}" for i in range(cameras)]
    camera_params: dict[str, object] = {"cameras": names} if cameras > 1 else {}
    camera_params["warmup_image_sizes"] = [f"{size[0]}x{size[1]}"]  # capture/compile before the first frame
    prefixes = [f"/{namespace}/{name}" for name in names] if cameras > 1 else [f"/{namespace}"]
    command = (
        [sys.executable, "-c", "from lednet_ros.commands.bench_node import echo_main; echo_main()", *prefixes] if echo
        else node_command(f"/{namespace}", None, {"diagnostics_period": 0.5, **camera_params, **node_params})
    )  # fmt: skip
    process = start_node_process(command, None, node_env)
    node = rclpy.create_node(f"bench_client_{size[0]}x{size[1]}_{cameras}")
    publishers = [
        node.create_publisher(Image, f"{prefix}/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        for prefix in prefixes
    ]
    latencies: list[float] = []
    measured_from = [0]  # stamps before this (warm-up frames answered late) are not counted

    def on_labels(message: Image) -> None:
        stamp = header_stamp_ns(message.header)
        if stamp >= measured_from[0]:
            latencies.append((time.time_ns() - stamp) / 1e6)

    for prefix in prefixes:
        node.create_subscription(Image, f"{prefix}/segmentation/labels", on_labels,
                                 QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))  # fmt: skip
    status: dict[str, dict[str, str]] = {}

    def on_diagnostics(message: DiagnosticArray) -> None:
        for entry in message.status:
            for prefix in prefixes:
                if entry.name.endswith(f": {prefix}/image"):
                    status[prefix] = {kv.key: kv.value for kv in entry.values}

    def total(snapshot: dict[str, dict[str, str]], key: str) -> int:
        return sum(int(values.get(key, 0)) for values in snapshot.values())

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    try:
        deadline = time.monotonic() + 120
        while any(p.get_subscription_count() == 0 for p in publishers) or any(
            node.count_publishers(f"{prefix}/segmentation/labels") == 0 for prefix in prefixes
        ):
            rclpy.spin_once(node, timeout_sec=0.1)
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                msg = f"the node did not start: {output.strip().splitlines()[-1:] or 'timeout'}"
                raise LednetError(msg)
        image = street_scene(*size, seed=1).image[..., ::-1].copy()
        message = Image(height=size[1], width=size[0], encoding="bgr8", step=size[0] * 3)
        message.data = array.array("B", image.tobytes())

        def publish_all() -> None:
            message.header.stamp.sec, message.header.stamp.nanosec = divmod(time.time_ns(), 10**9)
            for publisher in publishers:
                publisher.publish(message)

        for _ in range(max(1, int(rate))):  # warm-up second, not measured
            publish_all()
            rclpy.spin_once(node, timeout_sec=1.0 / rate)
        rclpy.spin_once(node, timeout_sec=1.0)
        latencies.clear()
        measured_from[0] = time.time_ns()
        start_status = {k: dict(v) for k, v in status.items()}
        cpu_start, wall_start = cpu_seconds(process.pid), time.monotonic()
        next_time = time.monotonic()
        for _ in range(frames):
            publish_all()
            next_time += 1.0 / rate
            while time.monotonic() < next_time:
                rclpy.spin_once(node, timeout_sec=max(0.0, next_time - time.monotonic()))
        wall = time.monotonic() - wall_start
        cpu = cpu_seconds(process.pid) - cpu_start
        settle = time.monotonic() + 2.0
        while time.monotonic() < settle:
            rclpy.spin_once(node, timeout_sec=0.1)
        p50, p95, top = percentiles(latencies)
        inference = float(next(iter(status.values()), {}).get("inference_p50_ms", "nan"))
        node_latency = float(next(iter(status.values()), {}).get("latency_p50_ms", "nan"))
        dropped = total(status, "dropped") - total(start_status, "dropped")
        return NodeBenchRow(
            size[0], size[1], cameras, rate, frames * cameras, len(latencies), dropped,
            round(len(latencies) / wall / cameras, 2),
            round(p50, 2), round(p95, 2), round(top, 2),
            round(inference, 2), round(p50 - inference, 2), round(100.0 * cpu / wall, 1),
            round(node_latency, 2), "transport echo" if echo else "segmentation_node",
        )  # fmt: skip
    finally:
        node.destroy_node()
        stop_node_process(process)


def markdown_table(rows: list[NodeBenchRow]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| process | input | cameras | rate Hz | sent | received | dropped | output Hz per camera | latency p50 ms | p95 ms | max ms | node stamp-to-publish p50 ms | inference p50 ms | overhead p50 ms | node CPU % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.process} | {r.width}x{r.height} | {r.cameras} | {r.rate_hz:g} | {r.sent} | {r.received} | {r.dropped_by_node} | {r.output_hz:.1f} | "
        f"{r.latency_p50_ms:.1f} | {r.latency_p95_ms:.1f} | {r.latency_max_ms:.1f} | {r.node_latency_p50_ms:.1f} | {r.inference_p50_ms:.1f} | "
        f"{r.overhead_p50_ms:.1f} | {r.node_cpu_percent:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros bench-node``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Measure the segmentation node end to end: latency, output rate, drops, CPU."
    )
    parser.add_argument(
        "--sizes", type=size_argument, nargs="+", default=[(640, 480), (1280, 720), (1920, 1080)], metavar="WxH"
    )
    parser.add_argument("--rate", type=float, default=30.0, help="publish rate in Hz (default: 30)")
    parser.add_argument("--frames", type=positive_int, default=150, help="frames per size (default: 150)")
    parser.add_argument(
        "--cameras", type=positive_int, nargs="+", default=[1], metavar="N",
        help="camera counts to measure, each served by one node with cameras:=[cam0..] (default: 1)",
    )  # fmt: skip
    parser.add_argument("--transport-floor", action="store_true",
                        help="also measure an echo node (no inference) on the same topics: rclpy + DDS alone")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("out/bench"), metavar="DIR")
    add_engine_arguments(parser)
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")

    def body() -> int:
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        import rclpy  # noqa: PLC0415

        node_params, node_env = engine_parameters(engine_options(args))
        rclpy.init()
        try:
            rows = [
                _measure(size, args.rate, args.frames, node_params, node_env, n, echo=echo)
                for n in args.cameras
                for size in args.sizes
                for echo in ([True, False] if args.transport_floor else [False])
            ]
        finally:
            rclpy.try_shutdown()
        table = markdown_table(rows)
        command = "lednet-ros bench-node " + " ".join(argv if argv is not None else sys.argv[1:])
        print(table)
        md, js = write_results(args.out, "bench_node", command, table, {"rows": [asdict(r) for r in rows]})
        print(f"wrote {md} and {js}")
        return 0

    return run_guarded(PROG, body)
