"""One camera stream of the node: its topics, newest-frame box, camera_info and telemetry.

The subscription callbacks (executor thread) put the newest message in
:attr:`CameraStream.pending`; the inference thread empties it. Both sides hold
the node's condition variable while they touch it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from lednet_ros.ros.telemetry import CameraTelemetry

__all__ = ["CameraStream", "Frame", "qos_profile"]


@dataclass
class Frame:
    """A message waiting for inference, with its arrival time (monotonic clock)."""

    message: Image | CompressedImage
    received: float


@dataclass
class CameraStream:
    """One camera: where its frames come from, where its outputs go, and what it counted."""

    namespace: str
    input_topic: str
    publishers: dict[str, Any]
    telemetry: CameraTelemetry = field(default_factory=CameraTelemetry)
    pending: Frame | None = None
    camera_info: CameraInfo | None = None

    def wanted(self) -> set[str]:
        """Outputs somebody subscribes to right now."""
        return {name for name, pub in self.publishers.items() if pub.get_subscription_count() > 0}


def qos_profile(reliability: str, depth: int) -> QoSProfile:
    """The QoS of an ``*_qos_reliability`` and ``*_qos_depth`` pair of parameters."""
    policy = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}[reliability]
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)
