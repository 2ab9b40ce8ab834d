"""The segmentation node end to end, as a camera sees it: the library behind ``lednet-ros bench-node``.

For each input size and camera count it starts ``segmentation_node`` in its
own process (N cameras served by one node through its ``cameras``
parameter), publishes ``bgr8`` frames at a fixed rate (best effort, like a
camera driver), subscribes to ``segmentation/labels`` (reliable, like rviz2)
and measures:

* stamp-to-receive latency at the subscriber (p50, p95, max): the time from
  the frame's header stamp (set just before publishing) to its labels
  arriving, so it includes transport both ways, decoding, inference and
  encoding;
* sustained output rate, and the frames the node dropped (its diagnostics);
* the node's inference time (its diagnostics) and its CPU use (``/proc``);
* node overhead = latency p50 - inference p50;
* the node's own stamp-to-publish latency (its diagnostics), which leaves
  out the way back to the subscriber.

With ``transport_floor`` each size is also measured against the echo node
(:mod:`lednet_ros.ros.echo`), which gives the floor that rclpy and the DDS
transport alone put under any Python node.

rclpy is imported only when a measurement runs, so the table and the rows
can be used without ROS.
"""

from __future__ import annotations

import array
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from subprocess import Popen
from typing import Any

from lednet_ros.data.synthetic import street_scene
from lednet_ros.errors import LednetError
from lednet_ros.evaluation.stats import percentiles
from lednet_ros.inference.options import EngineOptions
from lednet_ros.msgs.stamps import header_stamp_ns
from lednet_ros.ros.diagnostics import (
    COUNTERS,
    DROPPED,
    INFERENCE_P50_MS,
    LATENCY_P50_MS,
    LOSS_COLUMNS,
    camera_values,
    counter,
    counter_differences,
    frame_losses,
    frames_balance,
    published_key,
)
from lednet_ros.ros.node_process import (
    cpu_seconds,
    engine_parameters,
    node_command,
    start_node_process,
    stop_node_process,
)
from lednet_ros.ros.topics import IMAGE, output_topic
from lednet_ros.ros.transport import apply_large_image_profile

__all__ = ["NodeBenchRow", "NodeBenchSettings", "loss_table", "markdown_table", "measure", "run"]

LABELS_TOPIC = output_topic("labels")

ECHO_MODULE = "lednet_ros.ros.echo"
"""``python -m ECHO_MODULE PREFIX ...`` runs the echo node (named, not imported: it imports rclpy)."""
STARTUP_TIMEOUT_S = 120.0
SETTLE_S = 2.0  # after the last frame, labels still in flight are counted
IDLE_TIMEOUT_S = 10.0
"""How long to wait for the node to finish what it holds, before the mark and after the last frame."""


@dataclass(frozen=True)
class NodeBenchSettings:
    """What to measure: every camera count x size (x echo node and segmentation node with ``transport_floor``)."""

    sizes: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080))
    rate_hz: float = 30.0
    frames: int = 150
    cameras: tuple[int, ...] = (1,)
    transport_floor: bool = False


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
    losses: dict[str, int] | None = None
    """Where the measured frames went (:data:`~lednet_ros.ros.diagnostics.LOSS_COLUMNS`); None for the echo node."""


def run(settings: NodeBenchSettings, options: EngineOptions) -> list[NodeBenchRow]:
    """Measure every size and camera count of ``settings`` with a node built from ``options``.

    DDS discovery stays on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
    unless set). ``FASTRTPS_DEFAULT_PROFILES_FILE`` and the rest of the
    environment are passed on to the node.

    Raises:
        LednetError: a node that does not start.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy  # noqa: PLC0415 (ROS only when measuring)

    node_params, node_env = engine_parameters(options)
    apply_large_image_profile()  # this process's camera frames and the node's outputs over shared memory
    rclpy.init()
    try:
        return [
            measure(size, cameras, settings, node_params, node_env, echo=echo)
            for cameras in settings.cameras
            for size in settings.sizes
            for echo in ((True, False) if settings.transport_floor else (False,))
        ]
    finally:
        rclpy.try_shutdown()


def _prefixes(namespace: str, cameras: int) -> tuple[list[str], list[str]]:
    """The node's ``cameras`` parameter (none for one camera) and the topic prefix of each camera."""
    names = [f"cam{i}" for i in range(cameras)] if cameras > 1 else []
    return names, [f"/{namespace}/{name}" for name in names] or [f"/{namespace}"]


def _server_command(namespace: str, cameras: int, size: tuple[int, int], node_params: Mapping[str, Any],
                    *, echo: bool) -> list[str]:  # fmt: skip
    """The command line of the node (or the echo node) serving ``cameras`` cameras in ``namespace``."""
    names, prefixes = _prefixes(namespace, cameras)
    if echo:
        return [sys.executable, "-m", ECHO_MODULE, *prefixes]
    camera_params: dict[str, Any] = {"cameras": names} if names else {}
    camera_params["warmup_image_sizes"] = [f"{size[0]}x{size[1]}"]  # capture/compile before the first frame
    return node_command(f"/{namespace}", None, {"diagnostics_period": 0.5, **camera_params, **node_params})


def measure(size: tuple[int, int], cameras: int, settings: NodeBenchSettings, node_params: Mapping[str, Any],
            node_env: Mapping[str, str], *, echo: bool = False) -> NodeBenchRow:  # fmt: skip
    """One row: a node for ``cameras`` cameras at ``size``, a warm-up second, then ``settings.frames`` frames each.

    Needs ``rclpy.init()`` done (see :func:`run`).
    """
    namespace = f"bench_{os.getpid()}_{size[0]}x{size[1]}_{cameras}"
    process = start_node_process(_server_command(namespace, cameras, size, node_params, echo=echo), None, node_env)
    client = None
    try:
        client = _BenchClient(f"bench_client_{size[0]}x{size[1]}_{cameras}", _prefixes(namespace, cameras)[1])
        client.wait_until_connected(process)
        client.load_frame(size)
        rate = settings.rate_hz
        for _ in range(max(1, int(rate))):  # warm-up second, not measured
            client.publish_all()
            client.spin_once(1.0 / rate)
        client.spin_once(1.0)
        client.spin_until_idle(IDLE_TIMEOUT_S)  # no warm-up frame left in the node: the counters start clean
        client.start_measuring()
        start_status = {k: dict(v) for k, v in client.status.items()}
        cpu_start, wall_start = cpu_seconds(process.pid), time.monotonic()
        next_time = time.monotonic()
        for _ in range(settings.frames):
            client.publish_all()
            next_time += 1.0 / rate
            client.spin_until(next_time)
        wall = time.monotonic() - wall_start
        cpu = cpu_seconds(process.pid) - cpu_start
        client.spin_for(SETTLE_S)
        client.spin_until_idle(IDLE_TIMEOUT_S)
        return _row(size, cameras, settings, client, start_status, wall, cpu, echo=echo)
    finally:
        if client is not None:
            client.destroy()
        stop_node_process(process)


def _row(size: tuple[int, int], cameras: int, settings: NodeBenchSettings, client: _BenchClient,
         start_status: dict[str, dict[str, str]], wall: float, cpu: float, *, echo: bool) -> NodeBenchRow:  # fmt: skip
    """The figures of a finished measurement."""
    latencies = client.latencies
    p50, p95, top = percentiles(latencies)
    first_camera = next(iter(client.status.values()), {})
    inference = float(first_camera.get(INFERENCE_P50_MS, "nan"))
    node_latency = float(first_camera.get(LATENCY_P50_MS, "nan"))
    keys = (*COUNTERS, published_key("labels"))
    node = counter_differences({k: str(_total(client.status, k)) for k in keys},
                               {k: str(_total(start_status, k)) for k in keys})  # fmt: skip
    losses = None if echo else frame_losses(settings.frames * cameras, node, len(latencies))
    return NodeBenchRow(
        size[0], size[1], cameras, settings.rate_hz, settings.frames * cameras, len(latencies), counter(node, DROPPED),
        round(len(latencies) / wall / cameras, 2),
        round(p50, 2), round(p95, 2), round(top, 2),
        round(inference, 2), round(p50 - inference, 2), round(100.0 * cpu / wall, 1),
        round(node_latency, 2), "transport echo" if echo else "segmentation_node", losses,
    )  # fmt: skip


def _total(status: Mapping[str, Mapping[str, str]], key: str) -> int:
    """A counter summed over the cameras."""
    return sum(counter(values, key) for values in status.values())


class _BenchClient:
    """The cameras' side: a publisher per camera, the labels' latencies, the node's diagnostics per camera."""

    def __init__(self, name: str, prefixes: Sequence[str]) -> None:
        import rclpy  # noqa: PLC0415
        from diagnostic_msgs.msg import DiagnosticArray  # noqa: PLC0415
        from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
        from sensor_msgs.msg import Image  # noqa: PLC0415

        self._rclpy, self._image_type = rclpy, Image
        self.prefixes = list(prefixes)
        self.node = rclpy.create_node(name)
        best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.publishers = [self.node.create_publisher(Image, f"{p}/{IMAGE}", best_effort) for p in self.prefixes]
        for prefix in self.prefixes:
            self.node.create_subscription(Image, f"{prefix}/{LABELS_TOPIC}", self._on_labels, reliable)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.latencies: list[float] = []
        self.status: dict[str, dict[str, str]] = {}  # camera prefix -> its latest diagnostics values
        self._measured_from = 0  # stamps before this (warm-up frames answered late) are not counted
        self._message: Any = None

    def _on_labels(self, message: Any) -> None:
        stamp = header_stamp_ns(message.header)
        if stamp >= self._measured_from:
            self.latencies.append((time.time_ns() - stamp) / 1e6)

    def _on_diagnostics(self, message: Any) -> None:
        for prefix in self.prefixes:
            values = camera_values(message.status, f"{prefix}/{IMAGE}")
            if values is not None:
                self.status[prefix] = values

    def wait_until_connected(self, process: Popen[bytes], timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Spin until the node subscribes every camera and publishes its labels.

        Raises:
            LednetError: the node exited, or did not connect within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while any(p.get_subscription_count() == 0 for p in self.publishers) or any(
            self.node.count_publishers(f"{prefix}/{LABELS_TOPIC}") == 0 for prefix in self.prefixes
        ):
            self._rclpy.spin_once(self.node, timeout_sec=0.1)
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                msg = f"the node did not start: {output.strip().splitlines()[-1:] or 'timeout'}"
                raise LednetError(msg)

    def load_frame(self, size: tuple[int, int]) -> None:
        """The ``bgr8`` street scene every camera publishes."""
        image = street_scene(*size, seed=1).image[..., ::-1].copy()
        message = self._image_type(height=size[1], width=size[0], encoding="bgr8", step=size[0] * 3)
        message.data = array.array("B", image.tobytes())
        self._message = message

    def publish_all(self) -> None:
        """The frame on every camera, stamped now."""
        self._message.header.stamp.sec, self._message.header.stamp.nanosec = divmod(time.time_ns(), 10**9)
        for publisher in self.publishers:
            publisher.publish(self._message)

    def start_measuring(self) -> None:
        """Forget the warm-up's latencies; labels of frames stamped before now are not counted."""
        self.latencies.clear()
        self._measured_from = time.time_ns()

    def spin_once(self, timeout_s: float) -> None:
        """Handle one callback, or wait ``timeout_s`` for one."""
        self._rclpy.spin_once(self.node, timeout_sec=timeout_s)

    def spin_until(self, until: float) -> None:
        """Handle callbacks until ``time.monotonic()`` reaches ``until``."""
        while time.monotonic() < until:
            self._rclpy.spin_once(self.node, timeout_sec=max(0.0, until - time.monotonic()))

    def spin_until_idle(self, timeout_s: float) -> None:
        """Spin until every camera's counters balance (nothing waiting or in inference), then for two more readings.

        The extra second lets the last outputs arrive and ``/diagnostics`` report
        the counts that include them; a node without diagnostics (the echo) only waits.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not (
            self.status and all(frames_balance(values) for values in self.status.values())
        ):
            self._rclpy.spin_once(self.node, timeout_sec=0.1)
        self.spin_for(1.0)

    def spin_for(self, seconds: float) -> None:
        """Handle callbacks for ``seconds``."""
        self.spin_until(time.monotonic() + seconds)

    def destroy(self) -> None:
        """Remove the client's node."""
        self.node.destroy_node()


def loss_table(rows: Sequence[NodeBenchRow]) -> str:
    """Where the frames of each segmentation_node row went, one column per place, as a Markdown table."""
    lines = ["| input | cameras | " + " | ".join(c.replace("_", " ") for c in LOSS_COLUMNS) + " |",
             "| --- | ---: |" + " ---: |" * len(LOSS_COLUMNS)]  # fmt: skip
    lines += [
        f"| {r.width}x{r.height} | {r.cameras} | " + " | ".join(str(r.losses[c]) for c in LOSS_COLUMNS) + " |"
        for r in rows
        if r.losses is not None
    ]
    return "\n".join(lines)


def markdown_table(rows: Sequence[NodeBenchRow]) -> str:
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
