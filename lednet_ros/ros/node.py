"""``segmentation_node``: LEDNet on camera topics, the ROS 2 glue around the engine.

Per camera (the node's namespace, or each entry of ``cameras``) it
subscribes ``image`` (or ``image/compressed`` with
``input_transport:=compressed``) and ``camera_info``, and publishes under
``segmentation/``: ``labels`` (mono8 train ids, 255 = ignore), ``color``
(rgb8 palette), ``overlay`` (rgb8 blend), ``confidence`` (mono8) and
``camera_info``, each with the input's header. An output is computed only
while something subscribes to it; with no subscriber at all, no inference
runs.

Threading: subscription callbacks only put the newest message in a one-slot
box per camera (an unprocessed older one is dropped and counted); one
inference thread takes whatever boxes are full, decodes them, runs them as one
batch and publishes. Stale frames never queue up, so latency stays bounded
when the camera is faster than the model.

The ROS glue: everything it calls (engine, conversions, point cloud) is
free of rclpy.
"""

from __future__ import annotations

import array
import copy
import posixpath
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterValueException, ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField

from lednet_ros.errors import ImageEncodingError, LednetError
from lednet_ros.inference.options import BACKEND_CHOICES, PRECISIONS, EngineOptions, parse_size
from lednet_ros.model.classes import load_class_config
from lednet_ros.msgs.cloud import POINT_DTYPE, POINT_FIELDS, Intrinsics, decode_depth, semantic_cloud
from lednet_ros.msgs.image import DecodedImage, decode_compressed, decode_image, encode_image
from lednet_ros.msgs.stamps import StampPairing, header_stamp_ns
from lednet_ros.ros.spinning import spin_until_shutdown
from lednet_ros.ros.telemetry import CameraTelemetry

__all__ = ["OUTPUTS", "SegmentationNode", "main"]

NODE_NAME = "lednet_segmentation"
OUTPUTS = ("labels", "color", "overlay", "confidence", "camera_info")
WARN_THROTTLE_S = 5.0


@dataclass
class _Frame:
    """A message waiting for inference."""

    message: Image | CompressedImage
    received: float


@dataclass
class _Camera:
    """One camera stream: its topics, newest-frame box, camera_info and telemetry."""

    namespace: str
    input_topic: str
    publishers: dict[str, Any]
    telemetry: CameraTelemetry = field(default_factory=CameraTelemetry)
    pending: _Frame | None = None
    camera_info: CameraInfo | None = None

    def wanted(self) -> set[str]:
        """Outputs somebody subscribes to right now."""
        return {name for name, pub in self.publishers.items() if pub.get_subscription_count() > 0}


@dataclass
class _DepthCloud:
    """The semantic point cloud of one camera: depth input, pairing with segmentations, counters."""

    camera: _Camera
    topic: str
    stride: int
    pairing: StampPairing[Any, Image]
    palette: np.ndarray
    """256 x 3 RGB of each label, built once (the class config does not change while running)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    camera_info: CameraInfo | None = None
    clouds: int = 0
    skipped_no_info: int = 0
    rejected: int = 0
    build_ms: float = 0.0


def _descriptor(text: str, *, read_only: bool = True, **limits: Any) -> ParameterDescriptor:
    return ParameterDescriptor(description=text, read_only=read_only, **limits)


def _qos(reliability: str, depth: int) -> QoSProfile:
    policy = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}[reliability]
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)


def _join(namespace: str, name: str) -> str:
    """``name`` inside a camera namespace; relative unless the namespace is absolute."""
    if not namespace.strip("/"):
        return name
    return f"{namespace.rstrip('/')}/{name}"


def parse_image_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` -> (width, height), both at least 1.

    Raises:
        LednetError: anything else.
    """
    size = parse_size(text, 1)
    if size is None:
        msg = f"image size {text!r} is not WIDTHxHEIGHT (e.g. 1920x1080)"
        raise LednetError(msg)
    return size


def scaled_camera_info(info: CameraInfo, width: int, height: int) -> CameraInfo:
    """A copy of ``info`` for the same camera at another resolution (K, P and the ROI scaled)."""
    out = copy.deepcopy(info)
    sx = width / info.width if info.width else 1.0
    sy = height / info.height if info.height else 1.0
    k = list(info.k)
    k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
    p = list(info.p)
    p[0], p[2], p[3], p[5], p[6] = p[0] * sx, p[2] * sx, p[3] * sx, p[5] * sy, p[6] * sy
    out.k, out.p = k, p
    out.width, out.height = width, height
    out.roi.x_offset, out.roi.width = round(info.roi.x_offset * sx), round(info.roi.width * sx)
    out.roi.y_offset, out.roi.height = round(info.roi.y_offset * sy), round(info.roi.height * sy)
    return out


class SegmentationNode(Node):
    """LEDNet semantic segmentation of one or more camera streams.

    Raises:
        LednetError: a parameter is invalid, or the weights or device cannot
            be used (start-up stops with one clear message).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._declare_parameters()
        p = self._values = {name: self.get_parameter(name).value for name in self._parameter_names}
        self._check_startup_parameters(p)
        model_size = (p["model_width"], p["model_height"]) if p["model_width"] and p["model_height"] else None
        options = EngineOptions(
            weights=p["weights"] or None,
            device=p["device"],
            precision=p["precision"],
            model_size=model_size,
            keep_aspect=p["keep_aspect"],
            backend=p["backend"],
            cuda_graphs=p["cuda_graphs"],
            compile_network=p["compile_network"],
        )
        self.engine = options.build_engine(
            class_config=load_class_config(p["class_config"]) if p["class_config"] else None
        )
        if p["device"] == "auto" and self.engine.device.type == "cpu":
            self.get_logger().warning("device 'auto': no usable CUDA device, running on the CPU")
        self.overlay_alpha = float(p["overlay_alpha"])
        self.max_input_pixels = int(p["max_input_pixels"])
        self.rate_warn_fraction = float(p["rate_warn_fraction"])
        warmup_sizes = [parse_image_size(text) for text in p["warmup_image_sizes"] if text]
        if not warmup_sizes and not p["keep_aspect"]:
            warmup_sizes = [self.engine.model_size]  # the model input shape is known even if the camera's is not
        if warmup_sizes:  # prepare now, not on the first frame: exports, compilation, CUDA graph capture
            started = time.monotonic()
            # Cameras are batched by whoever has a frame waiting: every batch size from 1 to all of them.
            for batch in range(1, len(p["cameras"]) + 1):
                self.engine.warm_up(warmup_sizes, batch=batch)
            self.get_logger().info(
                f"warmed up for {', '.join(f'{w}x{h}' for w, h in warmup_sizes)} in {time.monotonic() - started:.1f} s"
            )
        self.add_on_set_parameters_callback(self._on_set_parameters)

        input_qos = _qos(p["input_qos_reliability"], p["input_qos_depth"])
        output_qos = _qos(p["output_qos_reliability"], p["output_qos_depth"])
        compressed = p["input_transport"] == "compressed"
        self._cameras: list[_Camera] = []
        for namespace in p["cameras"]:
            topic = _join(namespace, "image/compressed" if compressed else "image")
            publishers = {
                name: self.create_publisher(CameraInfo if name == "camera_info" else Image,
                                            _join(namespace, f"segmentation/{name}"), output_qos)
                for name in OUTPUTS
            }  # fmt: skip
            camera = _Camera(namespace, self.resolve_topic_name(topic), publishers)
            message_type = CompressedImage if compressed else Image
            self.create_subscription(message_type, topic, lambda m, c=camera: self._on_image(c, m), input_qos)
            self.create_subscription(CameraInfo, _join(namespace, "camera_info"),
                                     lambda m, c=camera: self._on_camera_info(c, m), input_qos)  # fmt: skip
            self._cameras.append(camera)

        self._depth: _DepthCloud | None = None
        if p["depth_topic"]:
            self._depth = self._subscribe_depth(self._cameras[0], p, input_qos, output_qos)

        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)
        self._wake = threading.Condition()
        self._running = True
        self._worker = threading.Thread(target=self._inference_loop, name="lednet_inference", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"segmenting {', '.join(c.input_topic for c in self._cameras)} with {self.engine.checkpoint.describe()} "
            f"on {self.engine.device} ({self.engine.precision_name}, {self.engine.backend}), model {self.engine.model_size[0]}x"
            f"{self.engine.model_size[1]}"
        )

    # -- parameters -----------------------------------------------------------

    _parameter_names = (
        "weights", "device", "precision", "backend", "model_width", "model_height", "keep_aspect", "output_resolution",
        "overlay_alpha", "input_transport", "input_qos_reliability", "input_qos_depth", "output_qos_reliability",
        "output_qos_depth", "max_input_pixels", "class_config", "cameras", "diagnostics_period", "rate_warn_fraction",
        "cuda_graphs", "compile_network", "warmup_image_sizes", "depth_topic", "cloud_stride", "depth_tolerance",
    )  # fmt: skip

    def _declare_parameters(self) -> None:
        d = _descriptor
        self.declare_parameter(
            "weights", "", d("weights file (project, authors' or pytorchcv format); empty: the packaged weights")
        )
        self.declare_parameter("device", "auto", d("auto, cpu, cuda or cuda:N; auto falls back to the CPU"))
        self.declare_parameter("precision", "auto", d("auto (fp16 on CUDA, fp32 on CPU), fp32 or fp16"))
        self.declare_parameter("backend", "auto", d(
            "where the network runs: auto (ONNX Runtime, else OpenVINO, else PyTorch on the CPU; PyTorch on CUDA), "
            "torch, onnxruntime or openvino"))  # fmt: skip
        self.declare_parameter("depth_topic", "", d(
            "aligned depth image (16UC1 mm or 32FC1 m) of the first camera; set: publish segmentation/points, a "
            "semantic PointCloud2 (camera_info from the sibling topic camera_info)"))  # fmt: skip
        self.declare_parameter("cloud_stride", 1, d("use every N-th depth row and column for the cloud",
                               integer_range=[IntegerRange(from_value=1, to_value=64, step=0)]))  # fmt: skip
        self.declare_parameter("depth_tolerance", 0.02, d(
            "seconds between a colour and a depth stamp that still pair (nearest stamp wins)",
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)]))  # fmt: skip
        self.declare_parameter("cuda_graphs", True, d(
            "CUDA only: replay the whole pipeline as one CUDA graph per image size and batch (captured on first use "
            "or at warm-up)"))  # fmt: skip
        self.declare_parameter("compile_network", False, d(
            "run the network through torch.compile (PyTorch backend; compiles for tens of seconds per shape at start)"
        ))  # fmt: skip
        self.declare_parameter("warmup_image_sizes", [""], d(
            "camera sizes ('WIDTHxHEIGHT') to prepare at start-up, so the first frame is not slow; empty: the model "
            "size (unless keep_aspect)"))  # fmt: skip
        size = IntegerRange(from_value=0, to_value=8192, step=0)
        self.declare_parameter(
            "model_width", 0, d("network input width; 0: the weights' training size", integer_range=[size])
        )
        self.declare_parameter(
            "model_height", 0, d("network input height; 0: the weights' training size", integer_range=[size])
        )
        self.declare_parameter("keep_aspect", False, d("derive the model height from each image's aspect ratio"))
        self.declare_parameter(
            "output_resolution", "input", d("'input': outputs at the camera's size; 'model': at the network's")
        )
        self.declare_parameter("overlay_alpha", 0.5, d("palette weight in the overlay (changeable at run time)", read_only=False,
                               floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)]))  # fmt: skip
        self.declare_parameter(
            "input_transport", "raw", d("'raw' subscribes image; 'compressed' subscribes image/compressed")
        )
        self.declare_parameter(
            "input_qos_reliability", "best_effort", d("best_effort (camera drivers, bag play) or reliable")
        )
        self.declare_parameter(
            "input_qos_depth",
            1,
            d("input queue depth", integer_range=[IntegerRange(from_value=1, to_value=100, step=0)]),
        )
        self.declare_parameter("output_qos_reliability", "reliable", d("reliable (rviz2, bag record) or best_effort"))
        self.declare_parameter(
            "output_qos_depth",
            1,
            d("output queue depth", integer_range=[IntegerRange(from_value=1, to_value=100, step=0)]),
        )
        self.declare_parameter("max_input_pixels", 3840 * 2160, d("larger images are rejected (changeable at run time)", read_only=False,
                               integer_range=[IntegerRange(from_value=1, to_value=2**31 - 1, step=0)]))  # fmt: skip
        self.declare_parameter("class_config", "", d("class names/colours YAML; empty: the weights' own"))
        self.declare_parameter(
            "cameras", [""], d("camera namespaces, each subscribing <ns>/image; '' is the node's own namespace")
        )
        self.declare_parameter("diagnostics_period", 1.0, d("seconds between /diagnostics messages",
                               floating_point_range=[FloatingPointRange(from_value=0.1, to_value=60.0, step=0.0)]))  # fmt: skip
        self.declare_parameter("rate_warn_fraction", 0.1, d("WARN when the output rate falls this fraction below the input rate", read_only=False,
                               floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)]))  # fmt: skip

    @staticmethod
    def _check_startup_parameters(p: dict[str, Any]) -> None:
        choices = {
            "output_resolution": ("input", "model"),
            "input_transport": ("raw", "compressed"),
            "input_qos_reliability": ("best_effort", "reliable"),
            "output_qos_reliability": ("best_effort", "reliable"),
            "precision": PRECISIONS,
            "backend": BACKEND_CHOICES,
        }
        for name, allowed in choices.items():
            if p[name] not in allowed:
                msg = f"parameter {name}={p[name]!r} is not one of {', '.join(allowed)}"
                raise LednetError(msg)
        if bool(p["model_width"]) != bool(p["model_height"]):
            msg = "set both model_width and model_height, or neither (0: the weights' training size)"
            raise LednetError(msg)
        for text in p["warmup_image_sizes"]:
            if text:
                parse_image_size(text)
        cameras = list(p["cameras"])
        if not cameras:
            msg = "parameter cameras is empty: list at least one namespace ('' for the node's own)"
            raise LednetError(msg)
        if len(set(cameras)) != len(cameras):
            msg = f"parameter cameras lists a namespace twice: {cameras}"
            raise LednetError(msg)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Validate and apply run-time changes; the descriptor ranges are checked by rclpy first."""
        for parameter in parameters:
            if parameter.name == "overlay_alpha":
                if not isinstance(parameter.value, float) or not 0.0 <= parameter.value <= 1.0:
                    return SetParametersResult(successful=False, reason="overlay_alpha must be a number in [0, 1]")
            elif parameter.name == "max_input_pixels":
                if not isinstance(parameter.value, int) or parameter.value < 1:
                    return SetParametersResult(successful=False, reason="max_input_pixels must be a positive integer")
            elif parameter.name == "rate_warn_fraction" and not (
                isinstance(parameter.value, float) and 0.0 <= parameter.value <= 1.0
            ):
                return SetParametersResult(successful=False, reason="rate_warn_fraction must be a number in [0, 1]")
        for parameter in parameters:
            if parameter.name == "overlay_alpha":
                self.overlay_alpha = float(parameter.value)
            elif parameter.name == "max_input_pixels":
                self.max_input_pixels = int(parameter.value)
            elif parameter.name == "rate_warn_fraction":
                self.rate_warn_fraction = float(parameter.value)
        return SetParametersResult(successful=True)

    # -- callbacks (executor thread) -----------------------------------------

    def _on_image(self, camera: _Camera, message: Image | CompressedImage) -> None:
        with self._wake:
            replaced = camera.pending is not None
            camera.pending = _Frame(message, time.monotonic())
            self._wake.notify()
        camera.telemetry.on_received(replaced_unprocessed=replaced)

    def _on_camera_info(self, camera: _Camera, message: CameraInfo) -> None:
        camera.camera_info = message

    # -- inference (worker thread) --------------------------------------------

    def _take_frames(self) -> list[tuple[_Camera, _Frame]]:
        with self._wake:
            while self._running and not any(c.pending for c in self._cameras):
                self._wake.wait(timeout=0.5)
            taken = [(c, c.pending) for c in self._cameras if c.pending is not None]
            for camera, _ in taken:
                camera.pending = None
        return taken  # type: ignore[return-value]

    def _decode(self, camera: _Camera, message: Image | CompressedImage) -> DecodedImage | None:
        try:
            if isinstance(message, CompressedImage):
                return decode_compressed(message.format, message.data, max_pixels=self.max_input_pixels)
            return decode_image(message.encoding, message.height, message.width, message.step, message.is_bigendian,
                                message.data, max_pixels=self.max_input_pixels)  # fmt: skip
        except ImageEncodingError as exc:
            camera.telemetry.on_rejected(str(exc))
            self.get_logger().warning(
                f"{camera.input_topic}: rejected a frame: {exc}", throttle_duration_sec=WARN_THROTTLE_S
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
        """Take the newest frame of every camera, decode them and run them as one batch."""
        frames = self._take_frames()
        work = []
        for camera, frame in frames:
            wanted = camera.wanted()
            if not wanted:
                camera.telemetry.on_unsubscribed()  # nobody listens: no inference at all
                continue
            decoded = self._decode(camera, frame.message)
            if decoded is not None:
                work.append((camera, frame, decoded, wanted))
        if work:
            self._run_batch(work)

    def _run_batch(self, work: list[tuple[_Camera, _Frame, DecodedImage, set[str]]]) -> None:
        wanted = set().union(*(w for *_, w in work))
        images = [decoded.pixels for _, _, decoded, _ in work]
        orders = ["bgr" if decoded.order == "bgr" else "rgb" for _, _, decoded, _ in work]
        at_model = self._values["output_resolution"] == "model"
        start = time.perf_counter()
        try:
            results = self.engine.infer_batch(
                images, order=orders, confidence="confidence" in wanted, color="color" in wanted,
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
            return
        inference_ms = (time.perf_counter() - start) * 1000.0
        for (camera, frame, _, camera_wanted), result in zip(work, results, strict=True):
            self._publish(camera, frame, result, camera_wanted, inference_ms / len(work))

    def _publish(self, camera: _Camera, frame: _Frame, result: Any, wanted: set[str], inference_ms: float) -> None:
        header = frame.message.header
        outputs = {"labels": (result.labels, "mono8"), "color": (result.color, "rgb8"),
                   "overlay": (result.overlay, "rgb8"), "confidence": (result.confidence, "mono8")}  # fmt: skip
        for name, (pixels, encoding) in outputs.items():
            if name not in wanted or pixels is None:
                continue
            message = Image()
            message.header = header
            message.height, message.width, message.step, message.data = encode_image(pixels, encoding)
            message.encoding = encoding
            message.is_bigendian = 0
            camera.publishers[name].publish(message)
        info = camera.camera_info
        if "camera_info" in wanted and info is not None:
            height, width = result.labels.shape
            scaled = scaled_camera_info(info, width, height) if (info.width, info.height) != (width, height) else info
            scaled.header = header
            camera.publishers["camera_info"].publish(scaled)
        depth = self._depth
        if depth is not None and depth.camera is camera and "points" in wanted:
            with depth.lock:
                pair = depth.pairing.add_left(header_stamp_ns(header), result.labels)
            if pair is not None:
                self._publish_cloud(depth, *pair)
        latency_ms = (self.get_clock().now().nanoseconds - header_stamp_ns(header)) / 1e6
        camera.telemetry.on_published(latency_ms, inference_ms)

    # -- semantic point cloud --------------------------------------------------------

    def _subscribe_depth(self, camera: _Camera, p: dict[str, Any], input_qos: QoSProfile,
                         output_qos: QoSProfile) -> _DepthCloud:  # fmt: skip
        """Depth image and its camera_info (the sibling topic, as image_transport names it) -> segmentation/points."""
        topic = self.resolve_topic_name(p["depth_topic"])
        info_topic = posixpath.join(posixpath.dirname(topic), "camera_info")
        tolerance_ns = round(float(p["depth_tolerance"]) * 1e9)
        depth = _DepthCloud(camera, topic, int(p["cloud_stride"]), StampPairing(tolerance_ns),
                            self.engine.classes.palette())  # fmt: skip
        camera.publishers["points"] = self.create_publisher(
            PointCloud2, _join(camera.namespace, "segmentation/points"), output_qos
        )
        self.create_subscription(Image, topic, lambda m: self._on_depth(depth, m), input_qos)
        self.create_subscription(CameraInfo, info_topic, lambda m: setattr(depth, "camera_info", m), input_qos)
        self.get_logger().info(f"semantic point cloud from {topic} (camera_info {info_topic}) on "
                               f"{self.resolve_topic_name(_join(camera.namespace, 'segmentation/points'))}")  # fmt: skip
        return depth

    def _on_depth(self, depth: _DepthCloud, message: Image) -> None:
        if "points" not in depth.camera.wanted():
            return  # computed only while somebody subscribes
        with depth.lock:
            before = depth.pairing.unpaired_right
            pair = depth.pairing.add_right(header_stamp_ns(message.header), message)
            unpaired = depth.pairing.unpaired_right - before
        if unpaired:
            self.get_logger().warning(
                f"{depth.topic}: depth frame(s) without a colour frame within depth_tolerance; no cloud for them",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
        if pair is not None:
            self._publish_cloud(depth, *pair)

    def _publish_cloud(self, depth: _DepthCloud, labels: Any, message: Image) -> None:
        """Back-project a depth frame with the labels of its colour frame and publish it with the depth header."""
        info = depth.camera_info
        if info is None:
            depth.skipped_no_info += 1
            self.get_logger().warning(
                f"{depth.topic}: no camera_info yet; no cloud", throttle_duration_sec=WARN_THROTTLE_S
            )
            return
        started = time.perf_counter()
        try:
            metres = decode_depth(message.encoding, message.height, message.width, message.step, message.is_bigendian,
                                  message.data)  # fmt: skip
            intrinsics = Intrinsics.from_camera_info(info.k, info.width or message.width, info.height or message.height)
            points = semantic_cloud(metres, intrinsics, labels, depth.palette, stride=depth.stride)
        except (ImageEncodingError, ValueError) as exc:
            depth.rejected += 1
            self.get_logger().warning(
                f"{depth.topic}: depth frame rejected: {exc}", throttle_duration_sec=WARN_THROTTLE_S
            )
            return
        cloud = PointCloud2()
        cloud.header = message.header
        cloud.height, cloud.width = 1, len(points)
        cloud.fields = [PointField(name=n, offset=o, datatype=t, count=c) for n, o, t, c in POINT_FIELDS]
        cloud.is_bigendian = False
        cloud.point_step = POINT_DTYPE.itemsize
        cloud.row_step = cloud.point_step * cloud.width
        cloud.is_dense = True
        cloud.data = array.array("B", points.tobytes())
        depth.camera.publishers["points"].publish(cloud)
        depth.clouds += 1
        depth.build_ms = (time.perf_counter() - started) * 1000.0

    # -- diagnostics ---------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for camera in self._cameras:
            s = camera.telemetry.snapshot()
            status = DiagnosticStatus()
            status.name = f"{self.get_fully_qualified_name()}: {camera.input_topic}"
            status.hardware_id = str(self.engine.device)
            behind = s.input_hz > 0 and s.output_hz < s.input_hz * (1.0 - self.rate_warn_fraction)
            wanted = camera.wanted()
            subscribed = bool(wanted)
            if behind and subscribed:
                status.level = DiagnosticStatus.WARN
                status.message = f"output {s.output_hz:.1f} Hz is behind input {s.input_hz:.1f} Hz"
            elif s.rejected and s.last_reject_reason:
                status.level = DiagnosticStatus.WARN if s.processed == 0 else DiagnosticStatus.OK
                status.message = f"segmenting; last rejected frame: {s.last_reject_reason}"
            else:
                status.level = DiagnosticStatus.OK
                status.message = "segmenting" if subscribed else "idle: no subscribers"
            values = {
                "input_rate_hz": f"{s.input_hz:.2f}", "output_rate_hz": f"{s.output_hz:.2f}",
                "latency_p50_ms": f"{s.latency_ms[0]:.1f}", "latency_p95_ms": f"{s.latency_ms[1]:.1f}",
                "latency_max_ms": f"{s.latency_ms[2]:.1f}", "inference_p50_ms": f"{s.inference_ms[0]:.1f}",
                "inference_p95_ms": f"{s.inference_ms[1]:.1f}", "received": str(s.received), "processed": str(s.processed),
                "dropped": str(s.dropped), "rejected": str(s.rejected), "failed": str(s.failed),
                "unsubscribed": str(s.unsubscribed),
                "outputs": ",".join(name for name in (*OUTPUTS, "points") if name in wanted) or "none",
                "device": str(self.engine.device), "precision": self.engine.precision_name,
                "weights": self.engine.checkpoint.describe(),
            }  # fmt: skip
            depth = self._depth
            if depth is not None and depth.camera is camera:
                values.update({
                    "clouds": str(depth.clouds), "cloud_build_ms": f"{depth.build_ms:.1f}",
                    "depth_unpaired": str(depth.pairing.unpaired_right), "depth_without_camera_info": str(depth.skipped_no_info),
                    "depth_rejected": str(depth.rejected),
                })  # fmt: skip
            status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
            array.status.append(status)
        self._diagnostics.publish(array)

    def stop(self) -> None:
        """Stop the inference thread (before the node is destroyed)."""
        with self._wake:
            self._running = False
            self._wake.notify_all()
        self._worker.join(timeout=5.0)


def main(args: list[str] | None = None) -> int:
    """Entry point of ``segmentation_node`` (``ros2 run lednet_ros segmentation_node``)."""
    rclpy.init(args=args)
    node: SegmentationNode | None = None
    try:
        node = SegmentationNode()
        spin_until_shutdown(node)
    except KeyboardInterrupt:  # Ctrl-C during start-up (model load, warm-up)
        pass
    except (LednetError, OSError, ParameterException, InvalidParameterValueException) as exc:
        print(f"[{NODE_NAME}] error: {exc}", file=sys.stderr)
        return 1
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
