"""The ROS side of a replay: listening to the node's outputs and diagnostics, and waiting for the node.

:class:`OutputListener` subscribes the node's ``labels`` (and the outputs a
recording or the GIF wants) without deserialising what it does not need,
hands each label image to a :class:`~lednet_ros.evaluation.tally.ReplayTally`,
and keeps the node's ``/diagnostics`` for the camera being replayed.
:mod:`lednet_ros.ros.replay` drives it.
"""

from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import GetParameters
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image

from lednet_ros.data.bags import CAMERA_INFO_TYPE, IMAGE_TYPE, decode_message
from lednet_ros.errors import LednetError
from lednet_ros.msgs.stamps import header_stamp_ns
from lednet_ros.ros import topics
from lednet_ros.ros.diagnostics import camera_values, counter

if TYPE_CHECKING:
    from lednet_ros.data.bags import BagWriter
    from lednet_ros.evaluation.tally import ReplayTally

__all__ = ["OutputListener", "spin_until", "wait_for_node"]

_GIF_WIDTH = 480
"""Overlays are shrunk to this width for ``overlay.gif``: the GIF is for looking at, not for measuring."""


def spin_until(node: Any, deadline: float, done: Callable[[], bool] | None = None) -> None:
    """Spin ``node`` until the monotonic ``deadline``, or until ``done()`` holds."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (done is not None and done()):
            return
        rclpy.spin_once(node, timeout_sec=min(remaining, 0.05))


def _thumbnail(rgb: np.ndarray, width: int = _GIF_WIDTH) -> np.ndarray:
    if rgb.shape[1] <= width:
        return rgb
    height = round(rgb.shape[0] * width / rgb.shape[1])
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


class OutputListener:
    """Subscriptions to the node's outputs under ``segmentation_ns`` and to ``/diagnostics``.

    Args:
        node: the replay's own rclpy node.
        tally: gets every label image with its header stamp and arrival time.
        image_topic: the camera topic the node reads; its diagnostics status is the one kept.
        segmentation_ns: where the node publishes (``/segmentation`` for the launch file's node).
        outputs: node outputs to subscribe besides ``labels`` (those ``recorder`` writes).
        recorder: a bag that gets every output message as it arrived, or None.
        gif_frames: how many of the last overlays to keep for ``overlay.gif``; 0 subscribes no overlay for it.
    """

    def __init__(self, node: Any, tally: ReplayTally, *, image_topic: str, segmentation_ns: str,
                 outputs: Iterable[str] = (), recorder: BagWriter | None = None, gif_frames: int = 0) -> None:  # fmt: skip
        self.node, self.tally, self.recorder = node, tally, recorder
        self.overlays: deque[np.ndarray] = deque(maxlen=max(gif_frames, 1))
        self._gif = gif_frames > 0
        self.diagnostics: dict[str, str] = {}
        self.first_diagnostics: dict[str, str] | None = None
        self._image_topic = image_topic
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        names = {"labels"} | set(outputs) | ({"overlay"} if self._gif else set())
        self.output_topics = {name: f"{segmentation_ns.rstrip('/')}/{name}" for name in sorted(names)}
        for name, topic in self.output_topics.items():
            node.create_subscription(CameraInfo if name == topics.CAMERA_INFO else Image, topic,
                                     lambda raw, n=name, t=topic: self._on_output(n, t, raw), reliable, raw=True)  # fmt: skip
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    @property
    def labels_topic(self) -> str:
        """The node's labels topic, the one every replay times and scores."""
        return self.output_topics["labels"]

    def _on_output(self, name: str, topic: str, raw: bytes) -> None:
        now = time.monotonic()
        if self.recorder is not None:
            self.recorder.write_serialized(
                topic, CAMERA_INFO_TYPE if name == topics.CAMERA_INFO else IMAGE_TYPE, raw, time.time_ns()
            )
        if name == "labels":
            message = deserialize_message(raw, Image)
            labels = np.asarray(decode_message(message).pixels)
            self.tally.output_received(header_stamp_ns(message.header), now, labels)
        elif name == "overlay" and self._gif:
            self.overlays.append(_thumbnail(decode_message(deserialize_message(raw, Image)).rgb()))

    def _on_diagnostics(self, message: Any) -> None:
        values = camera_values(message.status, self._image_topic)
        if values is not None:
            self.diagnostics = values
            if self.first_diagnostics is None:
                self.first_diagnostics = dict(values)

    def node_counter(self, key: str) -> int | None:
        """Change of one of the node's diagnostics counters during the replay (None: never heard)."""
        if self.first_diagnostics is None or key not in self.diagnostics:
            return None
        return counter(self.diagnostics, key) - counter(self.first_diagnostics, key)

    def outputs_connected(self) -> bool:
        """Whether the node's labels publisher has been discovered."""
        return self.node.count_publishers(self.labels_topic) > 0

    def segmenters(self) -> set[tuple[str, str]]:
        """(name, namespace) of the nodes that publish the labels."""
        return {(i.node_name, i.node_namespace) for i in self.node.get_publishers_info_by_topic(self.labels_topic)}

    def segmenter_subscribes(self, image_topic: str) -> bool:
        """Whether a node that publishes the labels also subscribes ``image_topic``.

        A subscriber count alone could be some other listener (a recorder,
        rviz2, a ``--listen-only`` replay) while the node is still starting.
        """
        images = {(i.node_name, i.node_namespace) for i in self.node.get_subscriptions_info_by_topic(image_topic)}
        return bool(self.segmenters() & images)

    def node_parameters(self, names: Sequence[str], timeout_s: float = 10.0) -> dict[str, Any]:
        """The segmenting node's values of ``names``, read through its ``get_parameters`` service.

        Shows what the node actually runs with (a node started for the
        replay got its engine options as parameters); empty when no single
        node publishes the labels or it does not answer in time.
        """
        nodes = self.segmenters()
        if len(nodes) != 1:
            return {}
        name, namespace = next(iter(nodes))
        client = self.node.create_client(GetParameters, f"{namespace.rstrip('/')}/{name}/get_parameters")
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                return {}
            future = client.call_async(GetParameters.Request(names=list(names)))
            spin_until(self.node, time.monotonic() + timeout_s, future.done)
            if not future.done() or future.result() is None:
                return {}
            return {n: parameter_value_to_python(v) for n, v in zip(names, future.result().values, strict=False)}
        finally:
            self.node.destroy_client(client)


def wait_for_node(node: Any, listener: OutputListener, publisher: Any, process: subprocess.Popen[bytes] | None,
                  timeout_s: float, log: Path, delay_s: float = 1.0) -> None:  # fmt: skip
    """Wait until the node publishes the labels and, when ``publisher`` is given, is matched with it.

    Raises:
        LednetError: the started node exited (with the last line of its ``log``), or none came up in time.
    """
    deadline = time.monotonic() + timeout_s

    def ready() -> bool:
        if publisher is None:
            return listener.outputs_connected()
        # Every subscriber known to the graph must be matched too (a recorder, a --listen-only replay), or the
        # first frames reach the node but not them; matching lags discovery.
        matched = publisher.get_subscription_count()
        return listener.segmenter_subscribes(publisher.topic_name) and matched >= max(
            1, node.count_subscribers(publisher.topic_name)
        )

    while not ready():
        rclpy.spin_once(node, timeout_sec=0.1)
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:]
            msg = f"the node exited with status {process.returncode}: {tail[0] if tail else 'no output'}"
            raise LednetError(msg)
        if time.monotonic() > deadline:
            msg = (
                f"no segmentation node publishes {listener.labels_topic}"
                + ("" if publisher is None else " while subscribing the image topic")
                + f" after {timeout_s:g} s; start one (or use --start-node) and check --segmentation-ns"
            )
            raise LednetError(msg)
    spin_until(node, time.monotonic() + delay_s)  # let the other endpoints match before the first frame
