"""The node's inference thread: take the newest frames, decode, segment as one batch, publish.

:class:`FramePipeline` is mixed into :class:`~lednet_ros.ros.node.SegmentationCore`
and runs on the one inference thread that the core starts at activation. It
uses the core's ``engine``, ``_cameras`` (:class:`CameraStream`), ``_cloud``,
``_wake`` (the condition variable the callbacks notify), ``_encoder`` (the
compressed twins' :class:`~lednet_ros.ros.compressed_outputs.CompressedEncoder`), ``_running``,
``_values`` (the parameters), ``overlay_alpha`` and ``max_input_pixels``.
Whatever one frame does (a bad encoding, a failed inference, a failed
publish), it lands in exactly one of its camera's counters and the thread
carries on.
"""

from __future__ import annotations

import time
from typing import Any

import rclpy
from sensor_msgs.msg import CompressedImage, Image

from lednet_ros.errors import ImageEncodingError
from lednet_ros.msgs.image import DecodedImage, decode_compressed, decode_image
from lednet_ros.msgs.stamps import header_stamp_ns
from lednet_ros.ros.camera_stream import CameraStream, Frame
from lednet_ros.ros.compressed_outputs import compressed_output, computed_outputs
from lednet_ros.ros.conversions import image_message, output_camera_info
from lednet_ros.ros.topics import CAMERA_INFO, CLOUD_CONFIDENCE, CLOUD_OUTPUTS, POINTS

__all__ = ["WARN_THROTTLE_S", "FramePipeline"]

WARN_THROTTLE_S = 5.0
"""Repeated warnings (a camera sending bad frames at 30 Hz) are logged at most this often."""


class FramePipeline:
    """The inference thread's loop, mixed into the node (see the module docstring for what it uses)."""

    _cameras: list[CameraStream]
    _cloud: Any
    _published: Any
    _encoder: Any
    _running: bool
    _values: dict[str, Any]
    engine: Any
    overlay_alpha: float
    max_input_pixels: int

    def _take_frames(self) -> list[tuple[CameraStream, Frame]]:
        """Wait for a frame of any camera (or a depth frame), then empty every camera's box."""
        with self._wake:
            while self._running and not any(c.pending for c in self._cameras) and not self._depth_waiting():
                self._wake.wait(timeout=0.5)
            taken = [(c, c.pending) for c in self._cameras if c.pending is not None]
            for camera, _ in taken:
                camera.pending = None
        return taken  # type: ignore[return-value]

    def _depth_waiting(self) -> bool:
        return self._cloud is not None and self._cloud.has_depth()

    def _decode(self, camera: CameraStream, message: Image | CompressedImage) -> DecodedImage | None:
        try:
            if isinstance(message, CompressedImage):
                return decode_compressed(message.format, message.data, max_pixels=self.max_input_pixels)
            return decode_image(message.encoding, message.height, message.width, message.step, message.is_bigendian,
                                message.data, max_pixels=self.max_input_pixels)  # fmt: skip
        except Exception as exc:  # whatever decoding raises, the frame lands in exactly one counter
            reason = str(exc) if isinstance(exc, ImageEncodingError) else f"{type(exc).__name__}: {exc}"
            camera.telemetry.on_rejected(reason)
            self.get_logger().warning(
                f"{camera.input_topic}: rejected a frame: {reason}", throttle_duration_sec=WARN_THROTTLE_S
            )
            return None

    def _inference_loop(self) -> None:
        while self._running:
            try:
                self._process_ready_frames()
            except Exception as exc:  # the thread must survive anything one frame does (publishing included)
                if not self._running or not rclpy.ok():
                    return
                self.get_logger().error(
                    f"frame skipped: {type(exc).__name__}: {exc}", throttle_duration_sec=WARN_THROTTLE_S
                )

    def _process_ready_frames(self) -> None:
        """Take the newest frame of every camera, decode them, run them as one batch, then the cloud's pairs."""
        work = []
        for camera, frame in self._take_frames():
            wanted = camera.wanted()
            if not wanted:
                camera.telemetry.on_unsubscribed()  # nobody listens: no inference at all
                continue
            decoded = self._decode(camera, frame.message)
            if decoded is not None:
                work.append((camera, frame, decoded, wanted))
        segmentations = self._run_batch(work) if work else {}
        if self._cloud is not None:
            self._cloud.update(segmentations.get(id(self._cameras[0])))

    def _run_batch(self, work: list[tuple[CameraStream, Frame, DecodedImage, set[str]]]) -> dict[int, tuple[int, Any]]:
        """Segment and publish; the (stamp ns, labels) of each camera (by id) whose cloud is wanted."""
        wanted = computed_outputs(set().union(*(w for *_, w in work)))  # a compressed twin needs its output
        images = [decoded.pixels for _, _, decoded, _ in work]
        orders = ["bgr" if decoded.order == "bgr" else "rgb" for _, _, decoded, _ in work]
        at_model = self._values["output_resolution"] == "model"
        start = time.perf_counter()
        try:
            results = self.engine.infer_batch(
                images, order=orders, color="color" in wanted,
                confidence=bool(wanted & {"confidence", CLOUD_CONFIDENCE}) or self._published.needs_confidence(),
                overlay="overlay" in wanted, alpha=self.overlay_alpha, at_model_size=at_model,
            )  # fmt: skip
        except Exception as exc:
            out_of_memory = "out of memory" in str(exc).lower()
            for camera, *_ in work:
                camera.telemetry.on_failed()
            self.get_logger().error(
                f"inference failed{' (CUDA out of memory)' if out_of_memory else ''}; skipping "
                f"{len(work)} frame(s): {type(exc).__name__}: {exc}",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
            return {}
        inference_ms = (time.perf_counter() - start) * 1000.0
        results = [self._published.apply(result) for result in results]  # min_confidence, publish_classes
        segmentations = {}
        for (camera, frame, _, camera_wanted), result in zip(work, results, strict=True):
            try:
                self._publish(camera, frame, result, camera_wanted, inference_ms / len(work))
            except Exception as exc:  # counted, and the other cameras' frames still go out
                camera.telemetry.on_failed()
                self.get_logger().error(f"{camera.input_topic}: publishing failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=WARN_THROTTLE_S)  # fmt: skip
                continue
            if camera_wanted & {POINTS, *CLOUD_OUTPUTS}:
                segmentations[id(camera)] = (header_stamp_ns(frame.message.header), (result.labels, result.confidence))
        return segmentations

    def _publish(self, camera: CameraStream, frame: Frame, result: Any, wanted: set[str], inference_ms: float) -> None:
        header = frame.message.header
        outputs = {"labels": (result.labels, "mono8"), "color": (result.color, "rgb8"),
                   "overlay": (result.overlay, "rgb8"), "confidence": (result.confidence, "mono8")}  # fmt: skip
        for name, (pixels, encoding) in outputs.items():
            if name in wanted and pixels is not None:
                camera.publishers[name].publish(image_message(header, pixels, encoding))
                camera.telemetry.on_output(name)
        twins = [(name, pixels, encoding) for name, (pixels, encoding) in outputs.items()
                 if compressed_output(name) in wanted and pixels is not None]  # fmt: skip
        self._encoder.submit(id(camera), header, twins, camera)  # encoded and published on the encoder's thread
        info = camera.camera_info
        if CAMERA_INFO in wanted and info is not None:
            height, width = result.labels.shape
            camera.publishers[CAMERA_INFO].publish(output_camera_info(info, header, width, height))
            camera.telemetry.on_output(CAMERA_INFO)
        latency_ms = (self.get_clock().now().nanoseconds - header_stamp_ns(header)) / 1e6
        camera.telemetry.on_published(latency_ms, inference_ms)
