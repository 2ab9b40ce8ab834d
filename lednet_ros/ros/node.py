"""``segmentation_node``: LEDNet on camera topics, the ROS 2 glue around the engine.

Per camera (the node's namespace, or each entry of ``cameras``) it
subscribes ``image`` (or ``image/compressed`` with
``input_transport:=compressed``) and ``camera_info``, and publishes under
``segmentation/``: ``labels`` (mono8 train ids, 255 = ignore), ``color``
(rgb8 palette), ``overlay`` (rgb8 blend), ``confidence`` (mono8) and
``camera_info``, each with the input's header; each image output also as
``<name>/compressed`` (:mod:`lednet_ros.ros.compressed_outputs`, encoded on
a thread of its own). An output is computed only
while something subscribes to it; with no subscriber at all, no inference
runs.

Threading: subscription callbacks only put the newest message in a one-slot
box per camera (:mod:`lednet_ros.ros.camera_stream`; an unprocessed older one
is dropped and counted); one inference thread
(:mod:`lednet_ros.ros.frame_pipeline`) takes whatever boxes are full, decodes
them, runs them as one batch and publishes. Stale frames never queue up, so latency stays bounded
when the camera is faster than the model. The semantic point cloud
(``depth_topic``, :mod:`lednet_ros.ros.depth`) is built on the same thread.

The parameters are declared from one table (:mod:`lednet_ros.ros.parameters`)
and the ``/diagnostics`` values written with :mod:`lednet_ros.ros.diagnostics`;
the engine and the message layouts below ``ros/`` are free of rclpy.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any

import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from lednet_ros.model.classes import load_class_config
from lednet_ros.ros import diagnostics, topics
from lednet_ros.ros.camera_stream import CameraStream, Frame, qos_profile
from lednet_ros.ros.compressed_outputs import COMPRESSED_OUTPUTS, CompressedEncoder, twin_publishers
from lednet_ros.ros.conversions import camera_info_problem
from lednet_ros.ros.depth import SemanticCloud
from lednet_ros.ros.frame_pipeline import WARN_THROTTLE_S, FramePipeline
from lednet_ros.ros.label_info import PublishedClasses
from lednet_ros.ros.parameters import declare_parameters, engine_options, image_sizes
from lednet_ros.ros.spinning import run_node
from lednet_ros.ros.topics import (
    CAMERA_INFO,
    CLOUD_OUTPUTS,
    COMPRESSED_IMAGE,
    IMAGE,
    LABEL_INFO,
    OUTPUTS,
    POINTS,
    in_namespace,
    output_topic,
)

__all__ = ["SegmentationCore", "SegmentationNode", "main"]

_JOIN_REPORT_S = 5.0
"""While deactivate waits for a slow batch, it says so this often."""


class SegmentationCore(FramePipeline):
    """The node's work, shared by :class:`SegmentationNode` and the managed ``SegmentationLifecycleNode``.

    Mixed into an rclpy ``Node`` or ``LifecycleNode``. It comes up in steps so
    that a lifecycle manager can hold a node loaded but idle: :meth:`_declare`
    (parameters), :meth:`_configure` (engine, warm-up, publishers, depth
    input), :meth:`_activate` (camera subscriptions, diagnostics timer,
    inference thread); :meth:`_deactivate` and :meth:`_cleanup` undo the last
    two. The plain node runs the first three at start-up.

    Raises:
        LednetError: a parameter is invalid, or the weights or device cannot
            be used (start-up stops with one clear message).
    """

    def _declare(self) -> None:
        """Declare (and check) the parameters; the run-time ones apply from now on."""
        p = self._values = declare_parameters(self)
        self.overlay_alpha = float(p["overlay_alpha"])
        self.max_input_pixels = int(p["max_input_pixels"])
        self.jpeg_quality = int(p["jpeg_quality"])
        self.rate_warn_fraction = float(p["rate_warn_fraction"])
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._wake = threading.Condition()
        self._running = False
        self._worker: threading.Thread | None = None
        self._cameras: list[CameraStream] = []
        self._cloud: SemanticCloud | None = None
        self._published: PublishedClasses | None = None  # the class filter and label_info, from configure
        self._encoder: CompressedEncoder | None = None  # the /compressed twins' thread (configure creates it)
        self._configured: set[Any] = set()  # what _configure created, for _cleanup
        self._active: set[Any] = set()  # what _activate created, for _deactivate

    def _configure(self) -> None:
        """Load the weights, warm up, create the publishers and the depth input (no camera input yet)."""
        p = self._values
        before = self._entities()
        try:
            self._configure_from(p)
        finally:  # what a failed step created too, so that _cleanup removes it
            self._configured = self._entities() - before

    def _configure_from(self, p: dict[str, Any]) -> None:
        self.engine = engine_options(p).build_engine(
            class_config=load_class_config(p["class_config"]) if p["class_config"] else None
        )
        self._published = PublishedClasses(
            self,
            self.engine.classes,
            [in_namespace(c, output_topic(LABEL_INFO)) for c in p["cameras"]],
            publish_classes=self.get_parameter("publish_classes").value,
            min_confidence=self.get_parameter("min_confidence").value,
        )  # the values now: a managed node's may have changed since it was declared
        if p["device"] == "auto" and self.engine.device.type == "cpu":
            self.get_logger().warning("device 'auto': no usable CUDA device, running on the CPU")
        self._warm_up(image_sizes(p["warmup_image_sizes"]), keep_aspect=p["keep_aspect"], cameras=len(p["cameras"]))

        qos = self._qos = (
            qos_profile(p["input_qos_reliability"], p["input_qos_depth"]),
            qos_profile(p["output_qos_reliability"], p["output_qos_depth"]),
        )
        compressed = p["input_transport"] == "compressed"
        self._cameras = [self._add_camera(namespace, compressed, qos[1]) for namespace in p["cameras"]]
        self._encoder = CompressedEncoder(self.get_logger(), lambda: self.jpeg_quality, p["compressed_format"])
        self._cloud = None
        if p["depth_topic"]:
            first = self._cameras[0]
            points_topic = in_namespace(first.namespace, output_topic(POINTS))
            self._cloud = SemanticCloud(self, depth_topic=p["depth_topic"], points_topic=points_topic,
                                        stride=int(self.get_parameter("cloud_stride").value),
                                        tolerance_s=float(p["depth_tolerance"]), layout=p["cloud_layout"],
                                        grid_topics=tuple(in_namespace(first.namespace, output_topic(name))
                                                          for name in CLOUD_OUTPUTS),
                                        palette=self.engine.classes.palette(), wake=self._wake, qos=qos,
                                        max_pixels=lambda: self.max_input_pixels,
                                        transport=p["depth_transport"])  # fmt: skip
            first.publishers[POINTS] = self._cloud.publisher  # its subscribers count as the camera's
            first.publishers.update(self._cloud.grid_publishers)

        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def _activate(self) -> None:
        """Subscribe the cameras and the depth input, start the diagnostics timer and the inference thread.

        A failure destroys what this step created before it raises, so the
        node is as it was (configured, inactive) and a later activate can work.
        """
        before = self._entities()
        compressed = self._values["input_transport"] == "compressed"
        try:
            for camera in self._cameras:
                self._subscribe(camera, compressed, self._qos[0])
            if self._cloud is not None:
                self._cloud.subscribe(self, self._qos[0])
            if self._published is not None:
                self._published.publish_label_info(force=True)  # latched: later subscribers get it too
            self.create_timer(self._values["diagnostics_period"], self._publish_diagnostics)
            self._running = True
            self._encoder.start()
            self._worker = threading.Thread(target=self._inference_loop, name="lednet_inference", daemon=True)
            self._worker.start()
        except BaseException:
            self._running, self._worker = False, None
            if self._encoder is not None:
                self._encoder.stop()
            self._destroy(self._entities() - before)
            raise
        self._active = self._entities() - before
        self.get_logger().info(
            f"segmenting {', '.join(c.input_topic for c in self._cameras)} with {self.engine.checkpoint.describe()} "
            f"on {self.engine.device} ({self.engine.running_precision}, {self.engine.backend}), model {self.engine.model_size[0]}x"
            f"{self.engine.model_size[1]}"
        )

    def _deactivate(self) -> None:
        """Stop the inference thread, then the inputs and the timer; the engine and publishers stay.

        The thread is waited for however long its batch takes: the engine and
        the publishers must not be used after this returns (cleanup frees
        them; activate starts a new thread). Frames still waiting in the
        boxes are counted as dropped, so the counters keep balancing.
        """
        with self._wake:
            self._running = False
            self._wake.notify_all()
        worker, self._worker = self._worker, None
        waited = 0.0
        while worker is not None and worker.is_alive():
            worker.join(timeout=_JOIN_REPORT_S)
            waited += _JOIN_REPORT_S
            if worker.is_alive():
                self.get_logger().info(f"waiting for the inference thread to finish its batch ({waited:.0f} s)")
        if self._encoder is not None:
            self._encoder.stop()  # after the inference thread, which hands it frames
        self._destroy(self._active)
        self._active = set()
        with self._wake:
            for camera in self._cameras:
                if camera.pending is not None:
                    camera.pending = None
                    camera.telemetry.on_discarded()

    def _cleanup(self) -> None:
        """Destroy the publishers and the depth input and let the engine go (its memory with it)."""
        self._destroy(self._configured)
        self._configured, self._cameras, self._cloud, self._published = set(), [], None, None
        engine = self.__dict__.pop("engine", None)
        on_cuda = engine is not None and engine.device.type == "cuda"
        del engine
        gc.collect()  # the network, its sessions and buffers go now, not at some later collection
        if on_cuda:
            torch.cuda.empty_cache()  # and the CUDA blocks torch's allocator had cached go back to the device

    def _entities(self) -> set[Any]:
        """The node's publishers, subscriptions and timers now (a step's own are what it adds)."""
        return {*self.publishers, *self.subscriptions, *self.timers}

    def _destroy(self, entities: set[Any]) -> None:
        for entity in entities:
            if isinstance(entity, Publisher):
                self.destroy_publisher(entity)
            elif isinstance(entity, Subscription):
                self.destroy_subscription(entity)
            elif isinstance(entity, Timer):
                self.destroy_timer(entity)

    def _warm_up(self, sizes: list[tuple[int, int]], *, keep_aspect: bool, cameras: int) -> None:
        """Prepare now, not on the first frame: exports, compilation, CUDA graph capture."""
        if not sizes and not keep_aspect:
            sizes = [self.engine.model_size]  # the model input shape is known even if the camera's is not
        if not sizes:
            return
        started = time.monotonic()
        # Cameras are batched by whoever has a frame waiting: every batch size from 1 to all of them.
        for batch in range(1, cameras + 1):
            self.engine.warm_up(sizes, batch=batch)
        self.get_logger().info(
            f"warmed up for {', '.join(f'{w}x{h}' for w, h in sizes)} in {time.monotonic() - started:.1f} s"
        )

    def _add_camera(self, namespace: str, compressed: bool, output_qos: QoSProfile) -> CameraStream:
        """Create one camera's output publishers (:meth:`_subscribe` adds its input)."""
        topic = in_namespace(namespace, COMPRESSED_IMAGE if compressed else IMAGE)
        publishers = {
            name: self.create_publisher(CameraInfo if name == CAMERA_INFO else Image,
                                        in_namespace(namespace, output_topic(name)), output_qos)
            for name in OUTPUTS
        }  # fmt: skip
        publishers.update(twin_publishers(self, namespace, output_qos))
        return CameraStream(namespace, self.resolve_topic_name(topic), publishers)

    def _subscribe(self, camera: CameraStream, compressed: bool, input_qos: QoSProfile) -> None:
        """Subscribe one camera's image (or image/compressed) and camera_info."""
        topic = in_namespace(camera.namespace, COMPRESSED_IMAGE if compressed else IMAGE)
        message_type = CompressedImage if compressed else Image
        self.create_subscription(message_type, topic, lambda m: self._on_image(camera, m), input_qos)
        self.create_subscription(CameraInfo, in_namespace(camera.namespace, CAMERA_INFO),
                                 lambda m: self._on_camera_info(camera, m), input_qos)  # fmt: skip

    # -- parameters -----------------------------------------------------------

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Apply run-time changes.

        rclpy has already refused read-only parameters, wrong types and values
        outside the declared ranges; what is left to refuse is a ``publish_classes``
        name the class set lacks, and then nothing of the request applies.
        """
        refusal = self._published.on_set(parameters) if self._published is not None else None
        if refusal is not None:  # an unknown class name (unconfigured: checked at configure)
            return SetParametersResult(successful=False, reason=refusal)
        for parameter in parameters:
            if parameter.name == "cloud_stride" and self._cloud is not None:
                self._cloud.stride = int(parameter.value)
            elif parameter.name == "overlay_alpha":
                self.overlay_alpha = float(parameter.value)
            elif parameter.name == "max_input_pixels":
                self.max_input_pixels = int(parameter.value)
            elif parameter.name == "rate_warn_fraction":
                self.rate_warn_fraction = float(parameter.value)
            elif parameter.name == "jpeg_quality":
                self.jpeg_quality = int(parameter.value)
        return SetParametersResult(successful=True)

    # -- callbacks (executor thread) -----------------------------------------

    def _on_image(self, camera: CameraStream, message: Image | CompressedImage) -> None:
        with self._wake:
            replaced = camera.pending is not None
            camera.pending = Frame(message, time.monotonic())
            self._wake.notify()
        camera.telemetry.on_received(replaced_unprocessed=replaced)

    def _on_camera_info(self, camera: CameraStream, message: CameraInfo) -> None:
        problem = camera_info_problem(message)
        if problem is not None:  # the last good one stays in use
            self.get_logger().warning(
                f"{camera.input_topic}: camera_info ignored: {problem}", throttle_duration_sec=WARN_THROTTLE_S
            )
            return
        camera.camera_info = message

    # -- diagnostics (timer, executor thread) ---------------------------------------

    def _publish_diagnostics(self) -> None:
        message = DiagnosticArray()
        message.header.stamp = self.get_clock().now().to_msg()
        for camera in self._cameras:
            snapshot = camera.telemetry.snapshot()
            wanted = camera.wanted()
            warn, text = diagnostics.camera_summary(
                snapshot, subscribed=bool(wanted), rate_warn_fraction=self.rate_warn_fraction
            )
            cloud = self._cloud.snapshot() if self._cloud is not None and camera is self._cameras[0] else None
            values = diagnostics.camera_status_values(
                snapshot, outputs=[name for name in (*OUTPUTS, *COMPRESSED_OUTPUTS, POINTS, *CLOUD_OUTPUTS)
                                   if name in wanted],
                device=str(self.engine.device), precision=self.engine.running_precision, backend=self.engine.backend,
                weights=self.engine.checkpoint.describe(), cloud=cloud,
            )  # fmt: skip
            if self._encoder is not None:
                encoded = self._encoder.counts(id(camera))
                values[diagnostics.COMPRESSED_SUPERSEDED] = str(encoded.superseded)
                values[diagnostics.COMPRESSED_FAILED] = str(encoded.failed)
                values[diagnostics.COMPRESSED_ENCODE_MS] = f"{encoded.encode_ms:.1f}"
            status = DiagnosticStatus(
                name=diagnostics.status_name(self.get_fully_qualified_name(), camera.input_topic),
                hardware_id=str(self.engine.device),
                level=DiagnosticStatus.WARN if warn else DiagnosticStatus.OK,
                message=text,
                values=[KeyValue(key=k, value=v) for k, v in values.items()],
            )
            message.status.append(status)
        self._diagnostics.publish(message)

    def stop(self) -> None:
        """Stop the inference thread and the camera input (before the node is destroyed)."""
        self._deactivate()


class SegmentationNode(SegmentationCore, Node):
    """LEDNet semantic segmentation of one or more camera streams, running from start-up to shutdown.

    Raises:
        LednetError: a parameter is invalid, or the weights or device cannot
            be used (start-up stops with one clear message).
    """

    def __init__(self, **kwargs: Any) -> None:
        Node.__init__(self, topics.NODE_NAME, **kwargs)
        self._declare()
        self._configure()
        self._activate()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``segmentation_node`` (``ros2 run lednet_ros segmentation_node``)."""
    return run_node(SegmentationNode, topics.NODE_NAME, args)


if __name__ == "__main__":
    sys.exit(main())
