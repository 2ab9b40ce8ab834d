"""The semantic point cloud of one camera: aligned depth frames in, ``segmentation/points`` out.

Threading follows the node's rule that callbacks only store and the
inference thread does the work. The depth callback (executor thread) appends
the frame to a small inbox and wakes the inference thread; the inference
thread calls :meth:`SemanticCloud.update` with each new segmentation of the
camera (or none), which moves the inbox into the stamp pairing and builds
and publishes the cloud of every pair made. The inbox keeps more than the
newest frame because a depth frame that arrives while its colour frame is in
inference must still be there when the segmentation comes out; it is
bounded like the pairing's own waiting list, and a frame pushed out counts
as unpaired. Every counter changes under one lock, which the diagnostics
timer takes too (:meth:`SemanticCloud.snapshot`).
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from lednet_ros.errors import ImageEncodingError
from lednet_ros.limits import check_image_size
from lednet_ros.msgs.cloud import Intrinsics, decode_depth, organized_cloud, semantic_cloud, to_cloud_grid
from lednet_ros.msgs.compressed_depth import compressed_depth_in_metres, compressed_depth_size
from lednet_ros.msgs.stamps import StampPairing, header_stamp_ns
from lednet_ros.ros.conversions import cloud_message, image_message
from lednet_ros.ros.telemetry import CloudSnapshot
from lednet_ros.ros.topics import CAMERA_INFO, CLOUD_OUTPUTS

__all__ = ["SemanticCloud"]

WARN_THROTTLE_S = 5.0


class SemanticCloud:
    """Depth frames of one camera paired with its segmentations by stamp, back-projected and published.

    The depth camera_info comes from the sibling topic ``camera_info`` of
    the depth topic, as image_transport names it.
    """

    def __init__(
        self,
        node: Node,
        *,
        depth_topic: str,
        points_topic: str,
        stride: int,
        tolerance_s: float,
        palette: np.ndarray,
        wake: threading.Condition,
        qos: tuple[QoSProfile, QoSProfile],
        max_pixels: Callable[[], int] | None = None,
        transport: str = "raw",
        layout: str = "packed",
        grid_topics: tuple[str, str] | None = None,
    ) -> None:
        """Publish on ``points_topic``; :meth:`subscribe` adds ``depth_topic`` and its camera_info.

        ``palette`` is the 256 x 3 RGB of each label; ``wake`` is the
        condition the inference thread waits on; ``qos`` is (input, output): the input's is :meth:`subscribe`'s;
        ``max_pixels`` gives the node's current ``max_input_pixels``, which
        depth frames obey as colour frames do (None: only the side and aspect limits);
        ``transport`` ``compressedDepth`` subscribes ``<depth_topic>/compressedDepth``
        (image_transport's name) instead of ``depth_topic``; its camera_info stays the sibling of ``depth_topic``.
        ``layout`` is ``cloud_layout``; when organized, ``grid_topics`` are
        where the labels and confidence at the cloud's grid go (``cloud_labels``, ``cloud_confidence``).
        """
        _, output_qos = qos
        self.topic = node.resolve_topic_name(depth_topic)
        self.info_topic = posixpath.join(posixpath.dirname(self.topic), CAMERA_INFO)
        self._compressed = transport == "compressedDepth"
        self.input_topic = f"{self.topic}/compressedDepth" if self._compressed else self.topic
        self.publisher = node.create_publisher(PointCloud2, points_topic, output_qos)
        self._logger = node.get_logger()
        self.stride = stride
        """``cloud_stride``: the node sets it at run time (read once per cloud)."""
        self.layout = layout
        self.grid_publishers = {
            name: node.create_publisher(Image, topic, output_qos)
            for name, topic in zip(CLOUD_OUTPUTS, grid_topics or (), strict=False)
            if layout == "organized"
        }
        self._max_pixels = max_pixels
        self._palette = palette
        self._wake = wake
        self._lock = threading.Lock()
        self._pairing: StampPairing[np.ndarray, Image | CompressedImage] = StampPairing(round(tolerance_s * 1e9))
        self._inbox: deque[Image | CompressedImage] = deque()
        self._pushed_out = 0
        self._camera_info: CameraInfo | None = None
        self._clouds = 0
        self._build_ms = 0.0
        self._without_camera_info = 0
        self._rejected = 0
        self._received = 0
        self._unsubscribed = 0
        self._logger.info(
            f"semantic point cloud from {self.input_topic} (camera_info {self.info_topic}) on "
            f"{node.resolve_topic_name(points_topic)}"
        )

    def subscribe(self, node: Node, input_qos: QoSProfile) -> None:
        """Subscribe the depth image and its camera_info (the node's activate step; deactivate destroys them)."""
        message_type = CompressedImage if self._compressed else Image
        node.create_subscription(message_type, self.input_topic, self._on_depth, input_qos)
        node.create_subscription(CameraInfo, self.info_topic, self._on_camera_info, input_qos)

    def wanted(self) -> bool:
        """Whether somebody subscribes to the cloud or the masks at its grid (depth is used only then)."""
        return any(p.get_subscription_count() > 0 for p in (self.publisher, *self.grid_publishers.values()))

    # -- executor thread ----------------------------------------------------------

    def _on_depth(self, message: Image | CompressedImage) -> None:
        with self._lock:
            self._received += 1
            if not self.wanted():
                self._unsubscribed += 1
                return
        try:  # before the frame is kept: the inbox holds several, and an oversized one must not wait there
            width, height = self._size(message)
            check_image_size(width, height, self._max_pixels() if self._max_pixels else None, "depth image")
        except ImageEncodingError as exc:
            self._reject(exc)
            return
        with self._lock:
            if len(self._inbox) >= self._pairing.keep:
                self._inbox.popleft()
                self._pushed_out += 1
            self._inbox.append(message)
        with self._wake:
            self._wake.notify()

    def _size(self, message: Image | CompressedImage) -> tuple[int, int]:
        """A depth frame's width and height: the fields of a raw one, the headers of a compressedDepth one (nothing decoded)."""
        if isinstance(message, CompressedImage):
            return compressed_depth_size(message.format, message.data)
        return message.width, message.height

    def _metres(self, message: Image | CompressedImage) -> np.ndarray:
        """A depth frame as float32 metres (its size already checked)."""
        if isinstance(message, CompressedImage):
            return compressed_depth_in_metres(message.format, message.data,
                                              max_pixels=self._max_pixels() if self._max_pixels else None)  # fmt: skip
        return decode_depth(message.encoding, message.height, message.width, message.step, message.is_bigendian,
                            message.data)  # fmt: skip

    def _on_camera_info(self, message: CameraInfo) -> None:
        with self._lock:
            self._camera_info = message

    # -- inference thread ---------------------------------------------------------

    def has_depth(self) -> bool:
        """Whether depth frames wait for :meth:`update`."""
        with self._lock:
            return bool(self._inbox)

    def update(self, segmentation: tuple[int, tuple[np.ndarray, np.ndarray | None]] | None) -> None:
        """Pair the waiting depth frames and ``segmentation`` (stamp ns, (labels, confidence)), then publish per pair.

        ``segmentation`` is None when the inference thread woke for depth
        frames alone, or when nobody subscribes to the cloud.
        """
        with self._lock:
            unpaired_before = self._unpaired()
            pairs = []
            while self._inbox:
                message = self._inbox.popleft()
                pair = self._pairing.add_right(header_stamp_ns(message.header), message)
                if pair is not None:
                    pairs.append(pair)
            if segmentation is not None:
                pair = self._pairing.add_left(*segmentation)
                if pair is not None:
                    pairs.append(pair)
            unpaired = self._unpaired() - unpaired_before
            info = self._camera_info
        if unpaired:
            self._logger.warning(
                f"{self.topic}: depth frame(s) without a colour frame within depth_tolerance; no cloud for them",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
        for images, message in pairs:
            self._publish(images, message, info)

    def _unpaired(self) -> int:
        return self._pairing.unpaired_right + self._pushed_out

    def _publish(
        self, images: tuple[np.ndarray, np.ndarray | None], message: Image | CompressedImage, info: CameraInfo | None
    ) -> None:
        """Back-project a depth frame with the labels of its colour frame and publish it with the depth header.

        ``images`` are the colour frame's (labels, confidence or None). The
        masks at the cloud's grid go out with the same header, so the cloud,
        ``cloud_labels`` and ``cloud_confidence`` have identical stamps.
        """
        labels, confidence = images
        if info is None:
            with self._lock:
                self._without_camera_info += 1
            self._logger.warning(f"{self.topic}: no camera_info yet; no cloud", throttle_duration_sec=WARN_THROTTLE_S)
            return
        started = time.perf_counter()
        try:
            width, height = self._size(message)
            check_image_size(width, height, self._max_pixels() if self._max_pixels else None, "depth image")
            _check_matches_camera_info(width, height, info)
            metres = self._metres(message)
            intrinsics = Intrinsics.from_camera_info(info.k, info.width or width, info.height or height)
            stride = self.stride
            build = organized_cloud if self.layout == "organized" else semantic_cloud
            points = build(metres, intrinsics, labels, self._palette, stride=stride)
        except (ImageEncodingError, ValueError) as exc:
            self._reject(exc)
            return
        if self.publisher.get_subscription_count() > 0:
            self.publisher.publish(cloud_message(message.header, points))
        for name, image in zip(CLOUD_OUTPUTS, (labels, confidence), strict=True):
            publisher = self.grid_publishers.get(name)
            if publisher is not None and image is not None and publisher.get_subscription_count() > 0:
                grid = np.ascontiguousarray(to_cloud_grid(image, metres.shape, stride))
                publisher.publish(image_message(message.header, grid, "mono8"))
        with self._lock:
            self._clouds += 1
            self._build_ms = (time.perf_counter() - started) * 1000.0

    def _reject(self, reason: Exception) -> None:
        """Count a depth frame refused for ``reason`` and say why (throttled)."""
        with self._lock:
            self._rejected += 1
        self._logger.warning(f"{self.topic}: depth frame rejected: {reason}", throttle_duration_sec=WARN_THROTTLE_S)

    # -- diagnostics timer (executor thread) ----------------------------------------

    def snapshot(self) -> CloudSnapshot:
        """The counters, for the camera's diagnostics."""
        with self._lock:
            return CloudSnapshot(
                clouds=self._clouds,
                build_ms=self._build_ms,
                unpaired=self._unpaired(),
                without_camera_info=self._without_camera_info,
                rejected=self._rejected,
                received=self._received,
                unsubscribed=self._unsubscribed,
            )


def _check_matches_camera_info(width: int, height: int, info: CameraInfo) -> None:
    """Refuse a depth frame whose aspect ratio is not its camera_info's (a uniformly scaled size is accepted).

    The intrinsics are scaled to the frame's size (:func:`~lednet_ros.msgs.cloud.semantic_cloud`),
    which is right for the same camera at another resolution and wrong for any other image.

    Raises:
        ImageEncodingError: the sizes differ by more than rounding.
    """
    if not info.width or not info.height:
        return  # a camera_info without a size: the frame's own is taken
    expected_height = height * info.width / width
    if abs(expected_height - info.height) > max(1.0, info.width / width):
        msg = f"depth image {width}x{height} does not match its camera_info's {info.width}x{info.height}"
        raise ImageEncodingError(msg)
