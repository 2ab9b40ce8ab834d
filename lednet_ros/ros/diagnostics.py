"""The node's ``/diagnostics`` protocol: status names and value keys, defined once.

The node writes one ``diagnostic_msgs/DiagnosticStatus`` per camera, named
``"<node's full name>: <input topic>"``, whose values carry the keys below.
The node fills a status with :func:`camera_summary` and
:func:`camera_status_values`; the tools that watch a node (``replay``,
``bench-node``, the soak benchmark, the tests) find a camera's status and read
its values with the readers here, so a renamed key cannot leave a reader
behind.

Works on plain values and on message objects by attribute, so neither the
writer nor the readers need an rclpy import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lednet_ros.ros.telemetry import CloudSnapshot, TelemetrySnapshot

__all__ = [
    "CLOUDS",
    "CLOUD_BUILD_MS",
    "COMPRESSED_ENCODE_MS",
    "COMPRESSED_FAILED",
    "COMPRESSED_SUPERSEDED",
    "COUNTERS",
    "DEPTH_RECEIVED",
    "DEPTH_REJECTED",
    "DEPTH_UNPAIRED",
    "DEPTH_UNSUBSCRIBED",
    "DEPTH_WITHOUT_CAMERA_INFO",
    "DEVICE",
    "DROPPED",
    "FAILED",
    "HANDLED",
    "INFERENCE_P50_MS",
    "INFERENCE_P95_MS",
    "INPUT_RATE_HZ",
    "LAST_REJECT_REASON",
    "LATENCY_MAX_MS",
    "LATENCY_P50_MS",
    "LATENCY_P95_MS",
    "LOSS_COLUMNS",
    "OUTPUTS",
    "OUTPUT_RATE_HZ",
    "PRECISION",
    "PROCESSED",
    "PUBLISHED_PREFIX",
    "RECEIVED",
    "REJECTED",
    "UNSUBSCRIBED",
    "WEIGHTS",
    "camera_status_values",
    "camera_summary",
    "camera_values",
    "counter",
    "counter_differences",
    "frame_losses",
    "frames_balance",
    "is_camera_status",
    "published_key",
    "status_name",
]

# Frame counters of one camera: every received frame ends in exactly one of HANDLED.
RECEIVED = "received"
PROCESSED = "processed"
DROPPED = "dropped"
REJECTED = "rejected"
FAILED = "failed"
UNSUBSCRIBED = "unsubscribed"
HANDLED = (PROCESSED, DROPPED, REJECTED, FAILED, UNSUBSCRIBED)
COUNTERS = (RECEIVED, *HANDLED)

PUBLISHED_PREFIX = "published_"
"""``published_<output>``: messages the node published on that output (``published_labels``, ...); a tool that
received fewer lost them after the node (its own queue, or the writer's history replacing them)."""


def published_key(output: str) -> str:
    """The key of the published count of ``output`` (an output name such as ``labels``)."""
    return f"{PUBLISHED_PREFIX}{output}"


# Rates and timings (text with a fixed number of decimals).
INPUT_RATE_HZ = "input_rate_hz"
OUTPUT_RATE_HZ = "output_rate_hz"
LATENCY_P50_MS = "latency_p50_ms"
LATENCY_P95_MS = "latency_p95_ms"
LATENCY_MAX_MS = "latency_max_ms"
INFERENCE_P50_MS = "inference_p50_ms"
INFERENCE_P95_MS = "inference_p95_ms"

# What runs.
OUTPUTS = "outputs"
LAST_REJECT_REASON = "last_reject_reason"
"""Why the last rejected frame was rejected ('' before any): the status text shows it only while nothing else is wrong."""
DEVICE = "device"
PRECISION = "precision"
"""What the network computes in, read back from the backend (OpenVINO reports its compiled precision)."""
BACKEND = "backend"
WEIGHTS = "weights"

# The semantic point cloud (on the camera that has the depth input).
CLOUDS = "clouds"
CLOUD_BUILD_MS = "cloud_build_ms"
DEPTH_UNPAIRED = "depth_unpaired"
DEPTH_WITHOUT_CAMERA_INFO = "depth_without_camera_info"
DEPTH_REJECTED = "depth_rejected"
DEPTH_RECEIVED = "depth_received"
DEPTH_UNSUBSCRIBED = "depth_unsubscribed"

# The /compressed twins (lednet_ros.ros.compressed_outputs): frames skipped because the encoder was busy, failures.
COMPRESSED_SUPERSEDED = "compressed_superseded"
COMPRESSED_FAILED = "compressed_failed"
COMPRESSED_ENCODE_MS = "compressed_encode_ms"

_SEPARATOR = ": "


def status_name(node_name: str, input_topic: str) -> str:
    """The status name of the camera that reads ``input_topic`` (a resolved topic name)."""
    return f"{node_name}{_SEPARATOR}{input_topic}"


def is_camera_status(name: str, input_topic: str) -> bool:
    """Whether a status ``name`` is that of the camera reading ``input_topic``, whatever the node's name."""
    return name.endswith(f"{_SEPARATOR}{input_topic}")


def camera_values(statuses: Iterable[Any], input_topic: str) -> dict[str, str] | None:
    """The key/value pairs of the status for ``input_topic`` among ``statuses``; None when absent.

    ``statuses`` is a ``DiagnosticArray``'s ``status`` list (rclpy or rosbags messages).
    """
    for status in statuses:
        if is_camera_status(status.name, input_topic):
            return {kv.key: kv.value for kv in status.values}
    return None


def counter(values: Mapping[str, str], key: str) -> int:
    """One of the :data:`COUNTERS` as a number (0 when the node has not reported it)."""
    return int(values.get(key, 0))


def frames_balance(values: Mapping[str, str]) -> bool:
    """Whether every frame received was handled one way or another (nothing is in flight).

    False until the node has reported every counter: a missing key is not a zero here.
    """
    if not all(key in values for key in COUNTERS):
        return False
    return counter(values, RECEIVED) == sum(counter(values, key) for key in HANDLED)


LOSS_COLUMNS = ("sent", "lost_before_node", DROPPED, REJECTED, FAILED, UNSUBSCRIBED, "lost_after_node", "received")
"""Where every frame a tool sent went, in path order: each sent frame is in exactly one column after ``sent``
(``received`` are those that came back), so a gap is never called "lost" without saying where."""


def frame_losses(sent: int, node: Mapping[str, str], received: int, output: str = "labels") -> dict[str, int]:
    """A tool's frames by where they went: the :data:`LOSS_COLUMNS`.

    ``node`` holds the node's counters over the same frames (differences of
    two readings where the tool counted from a mark), ``received`` what the
    tool got back on ``output``. Lost before the node: sent but never
    received by it (the transport); lost after: published on ``output`` but
    never received by the tool (its queue, or the writer's history replacing
    a message the tool had not taken yet).
    """
    return {
        "sent": sent,
        "lost_before_node": sent - counter(node, RECEIVED),
        **{key: counter(node, key) for key in (DROPPED, REJECTED, FAILED, UNSUBSCRIBED)},
        "lost_after_node": counter(node, published_key(output)) - received,
        "received": received,
    }


def counter_differences(after: Mapping[str, str], before: Mapping[str, str]) -> dict[str, str]:
    """Every counter of ``after`` (frame counters and published counts) less its value in ``before``."""
    keys = [key for key in after if key in COUNTERS or key.startswith(PUBLISHED_PREFIX)]
    return {key: str(counter(after, key) - counter(before, key)) for key in keys}


def camera_summary(snapshot: TelemetrySnapshot, *, subscribed: bool, rate_warn_fraction: float) -> tuple[bool, str]:
    """(warn, message) of a camera's status.

    WARN while the output rate is more than ``rate_warn_fraction`` below the
    input rate (only while somebody subscribes: otherwise no output is
    expected), or when frames were rejected and none processed.
    """
    s = snapshot
    if subscribed and s.input_hz > 0 and s.output_hz < s.input_hz * (1.0 - rate_warn_fraction):
        return True, f"output {s.output_hz:.1f} Hz is behind input {s.input_hz:.1f} Hz"
    if s.rejected and s.last_reject_reason:
        return s.processed == 0, f"segmenting; last rejected frame: {s.last_reject_reason}"
    return False, "segmenting" if subscribed else "idle: no subscribers"


def camera_status_values(
    snapshot: TelemetrySnapshot,
    *,
    outputs: Iterable[str],
    device: str,
    precision: str,
    backend: str,
    weights: str,
    cloud: CloudSnapshot | None = None,
) -> dict[str, str]:
    """The key/value pairs of a camera's status; ``outputs`` are those somebody subscribes to."""
    s = snapshot
    values = {
        INPUT_RATE_HZ: f"{s.input_hz:.2f}", OUTPUT_RATE_HZ: f"{s.output_hz:.2f}",
        LATENCY_P50_MS: f"{s.latency_ms[0]:.1f}", LATENCY_P95_MS: f"{s.latency_ms[1]:.1f}",
        LATENCY_MAX_MS: f"{s.latency_ms[2]:.1f}", INFERENCE_P50_MS: f"{s.inference_ms[0]:.1f}",
        INFERENCE_P95_MS: f"{s.inference_ms[1]:.1f}",
        RECEIVED: str(s.received), PROCESSED: str(s.processed), DROPPED: str(s.dropped), REJECTED: str(s.rejected),
        FAILED: str(s.failed), UNSUBSCRIBED: str(s.unsubscribed),
        OUTPUTS: ",".join(outputs) or "none", DEVICE: device, PRECISION: precision, BACKEND: backend, WEIGHTS: weights,
        LAST_REJECT_REASON: s.last_reject_reason,
        **{published_key(name): str(count) for name, count in s.published},
    }  # fmt: skip
    if cloud is not None:
        values.update({
            CLOUDS: str(cloud.clouds), CLOUD_BUILD_MS: f"{cloud.build_ms:.1f}", DEPTH_UNPAIRED: str(cloud.unpaired),
            DEPTH_WITHOUT_CAMERA_INFO: str(cloud.without_camera_info), DEPTH_REJECTED: str(cloud.rejected),
            DEPTH_RECEIVED: str(cloud.received), DEPTH_UNSUBSCRIBED: str(cloud.unsubscribed),
        })  # fmt: skip
    return values
