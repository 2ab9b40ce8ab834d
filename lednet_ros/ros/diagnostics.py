"""The node's ``/diagnostics`` protocol: status names and value keys, defined once.

The node writes one ``diagnostic_msgs/DiagnosticStatus`` per camera, named
``"<node's full name>: <input topic>"``, whose values carry the keys below.
The tools that watch a node (``replay``, ``bench-node``, the soak benchmark,
the tests) find a camera's status and read its values with the functions
here, so a renamed key cannot leave a reader behind.

Works on message objects by attribute, so reading needs no rclpy import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CLOUDS",
    "CLOUD_BUILD_MS",
    "COUNTERS",
    "DEPTH_REJECTED",
    "DEPTH_UNPAIRED",
    "DEPTH_WITHOUT_CAMERA_INFO",
    "DEVICE",
    "DROPPED",
    "FAILED",
    "HANDLED",
    "INFERENCE_P50_MS",
    "INFERENCE_P95_MS",
    "INPUT_RATE_HZ",
    "LATENCY_MAX_MS",
    "LATENCY_P50_MS",
    "LATENCY_P95_MS",
    "OUTPUTS",
    "OUTPUT_RATE_HZ",
    "PRECISION",
    "PROCESSED",
    "RECEIVED",
    "REJECTED",
    "UNSUBSCRIBED",
    "WEIGHTS",
    "camera_values",
    "counter",
    "frames_balance",
    "is_camera_status",
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
DEVICE = "device"
PRECISION = "precision"
WEIGHTS = "weights"

# The semantic point cloud (on the camera that has the depth input).
CLOUDS = "clouds"
CLOUD_BUILD_MS = "cloud_build_ms"
DEPTH_UNPAIRED = "depth_unpaired"
DEPTH_WITHOUT_CAMERA_INFO = "depth_without_camera_info"
DEPTH_REJECTED = "depth_rejected"

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
    """Whether every frame received was handled one way or another (nothing is in flight)."""
    return bool(values) and counter(values, RECEIVED) == sum(counter(values, key) for key in HANDLED)
