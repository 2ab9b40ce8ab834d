"""A recorded drive through the live node, scored from the node's own output: the library of ``lednet-ros replay``.

The offline evaluation runs the engine in-process; this measures what a
robot gets. :func:`replay` publishes a bag's image (and camera_info)
messages as they were recorded (serialised bytes, original header stamps,
like ``ros2 bag play``) into a running ``segmentation_node`` (or one it
starts), listens to the node's ``segmentation/labels`` and reports:

* per-frame latency: from publishing a frame to receiving its labels (p50,
  p95, max), matched by header stamp;
* the output rate, and the frames that never came back (dropped by the node
  or by best-effort transport), with the node's own drop counter from
  ``/diagnostics`` next to it;
* when the bag has ground-truth labels, the accuracy of the node's actual
  output (mIoU, per-class IoU, confusion matrix), as the offline evaluation does.

Pacing: the recorded rate (``rate`` 1), ``rate`` K times it, or
``lockstep``: the next frame goes out as soon as the previous one's labels
are back, which is as fast as the node keeps up. ``listen_only`` publishes
nothing: another player (``ros2 bag play``) does, and each frame is timed
from its arrival on the image topic to its labels arriving.

Writes ``report.json``, ``report.md``, ``latency.png``, ``per_class_iou.png``,
``confusion.png`` and ``samples.png`` to ``out``; ``gif`` adds
``overlay.gif`` from the node's ``segmentation/overlay``; ``record`` writes
what the node published to a new bag; a started node logs to ``node.log``.
rclpy is imported only once a replay runs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from lednet_ros.data.bags import (
    DEFAULT_CAMERA_INFO_TOPIC,
    DEFAULT_IMAGE_TOPIC,
    DEFAULT_LABEL_TOPIC,
    IMAGE_TYPE,
    BagWriter,
    decode_message,
    open_bag,
    require_topic,
)
from lednet_ros.errors import ImageTooLargeError, LednetError
from lednet_ros.evaluation.report import replay_markdown, write_gif, write_latency_png, write_report
from lednet_ros.evaluation.stats import percentile_summary
from lednet_ros.evaluation.tally import ReplayTally, load_ground_truth
from lednet_ros.inference.options import EngineOptions
from lednet_ros.limits import DEFAULT_MAX_PIXELS, check_image_size
from lednet_ros.msgs.stamps import cdr_header_stamp_ns, header_stamp_ns
from lednet_ros.ros import diagnostics
from lednet_ros.ros import topics as node_topics
from lednet_ros.ros.node_process import engine_parameters, node_command, start_node_process, stop_node_process
from lednet_ros.ros.transport import apply_large_image_profile

if TYPE_CHECKING:
    from lednet_ros.ros.player import OutputListener

__all__ = ["NODE_LOG", "ReplayOptions", "replay"]

NODE_LOG = "node.log"
OUTPUT_HISTORY = 100
"""``output_qos_depth`` of a node that ``--start-node`` starts (the parameter's maximum; the listener keeps 200)."""
_SEGMENTATION = f"/{node_topics.SEGMENTATION}"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay, how fast, and what to write; the node's engine options travel separately.

    Times are in seconds. Raises ValueError for values no replay can use.
    """

    bag: Path
    out: Path = Path("out/replay")
    image_topic: str = DEFAULT_IMAGE_TOPIC
    label_topic: str = DEFAULT_LABEL_TOPIC
    """Ground truth; optional: without it the replay reports no accuracy."""
    camera_info_topic: str = DEFAULT_CAMERA_INFO_TOPIC
    """Replayed too when the bag has it."""
    segmentation_ns: str = _SEGMENTATION
    """Where the node publishes labels, overlay, ... (the launch file's default)."""
    rate: float = 1.0
    lockstep: bool = False
    listen_only: bool = False
    start_node: bool = False
    max_frames: int | None = None
    record: Path | None = None
    record_outputs: tuple[str, ...] = ("labels", "overlay", "camera_info")
    storage: str = "sqlite3"
    gif: bool = False
    gif_frames: int = 40
    samples: int = 4
    max_input_pixels: int = DEFAULT_MAX_PIXELS
    """Frames beyond this or the other frame limits (:func:`~lednet_ros.limits.check_image_size`) are not sent, but counted."""
    wait: float = 90.0
    """How long to wait for the node to come up."""
    delay: float = 1.0
    """Between finding the node and the first frame, for other subscribers to match."""
    frame_timeout: float = 5.0
    """Lockstep: give up on a frame after this."""
    settle: float = 5.0
    """How long to wait for the last outputs after the bag ends."""
    idle_timeout: float = 5.0
    """Listen-only: stop this long after the last frame."""

    def __post_init__(self) -> None:
        if self.lockstep and self.listen_only:
            msg = "lockstep and listen-only exclude each other"
            raise ValueError(msg)
        if min(self.rate, self.wait, self.frame_timeout, self.idle_timeout) <= 0 or min(self.settle, self.delay) < 0:
            msg = (
                "--rate, --wait, --frame-timeout and --idle-timeout must be positive, --settle and --delay not negative"
            )
            raise ValueError(msg)
        if not set(self.record_outputs) <= set(node_topics.OUTPUTS):
            msg = f"record outputs must be among {', '.join(node_topics.OUTPUTS)}, got {', '.join(self.record_outputs)}"
            raise ValueError(msg)

    @property
    def mode(self) -> str:
        """The pacing, as the report names it."""
        return "listen-only" if self.listen_only else "lockstep" if self.lockstep else f"rate x{self.rate:g}"


def replay(options: ReplayOptions, engine: EngineOptions | None = None) -> dict[str, Any]:
    """Do the replay ``options`` describe; write the report; return its JSON data.

    ``engine`` sets up a node that ``options.start_node`` starts, and its
    weights' class set is the one the labels are scored with.

    Raises:
        LednetError: the bag or a topic is missing, the node did not come up, or no frame arrived.
    """
    engine = engine or EngineOptions()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from lednet_ros.model.checkpoint import load_weights  # noqa: PLC0415 (torch)

    classes = load_weights(engine.weights).meta.classes
    options.out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        reader = open_bag(options.bag)
        stack.callback(reader.close)
        topics = {c.topic: c.msgtype for c in reader.connections}
        require_topic(options.bag, topics, options.image_topic, (IMAGE_TYPE,), IMAGE_TYPE)
        has_truth = options.label_topic in topics
        if has_truth:
            require_topic(options.bag, topics, options.label_topic, (IMAGE_TYPE,), IMAGE_TYPE)
        truth, corrupt_labels = (
            load_ground_truth(reader, options.label_topic, classes, options.max_input_pixels) if has_truth else ({}, 0)
        )
        tally = ReplayTally(classes, truth if has_truth else None, options.samples)
        tally.stats.corrupt_messages += corrupt_labels
        recorder = stack.enter_context(BagWriter(options.record, options.storage)) if options.record else None
        listener, wall, parameters = _run_ros(options, engine, reader, tally, recorder, stack)
    context = {
        "bag": str(options.bag), "image_topic": options.image_topic, "label_topic": options.label_topic,
        "labels_topic": listener.labels_topic, "has_ground_truth": has_truth,
        "weights": listener.diagnostics.get(diagnostics.WEIGHTS), "device": listener.diagnostics.get(diagnostics.DEVICE),
        "precision": listener.diagnostics.get(diagnostics.PRECISION),
        "backend": listener.diagnostics.get(diagnostics.BACKEND), "node_parameters": parameters,
        "replay": {**_summary(tally, listener, wall), "mode": options.mode},
    }  # fmt: skip
    report = write_report(tally.evaluation(), classes, options.out, context)
    write_latency_png(tally.stats, options.out / "latency.png")
    (options.out / "report.md").write_text(replay_markdown(report, classes.names), encoding="utf-8")
    if options.gif and listener.overlays:
        output_hz = tally.stats.output_hz
        period_ms = 1000.0 / output_hz if output_hz > 0 else 100.0  # as fast as they came
        report["gif"] = str(write_gif(list(listener.overlays), options.out / "overlay.gif", period_ms))
    if options.record is not None:
        report["recorded"] = str(options.record)
    return report


def _run_ros(options: ReplayOptions, engine: EngineOptions, reader: Any, tally: ReplayTally,
             recorder: BagWriter | None, stack: ExitStack) -> tuple[OutputListener, float, dict[str, Any]]:  # fmt: skip
    """The part with rclpy: the replay's node, the started segmentation node, playing or listening."""
    import rclpy  # noqa: PLC0415

    from lednet_ros.ros.player import OutputListener, spin_until  # noqa: PLC0415 (imports rclpy)

    expected = sum(c.msgcount for c in reader.connections if c.topic == options.image_topic)
    apply_large_image_profile()  # before the first participant; the started node inherits it
    rclpy.init()
    stack.callback(rclpy.try_shutdown)
    node = rclpy.create_node(f"lednet_replay_{os.getpid()}")
    stack.callback(node.destroy_node)
    listener = OutputListener(
        node, tally, image_topic=options.image_topic, segmentation_ns=options.segmentation_ns,
        outputs=options.record_outputs if recorder else (), recorder=recorder,
        gif_frames=options.gif_frames if options.gif else 0,
    )  # fmt: skip
    warmup = _first_image_size(reader, options.image_topic) if options.start_node else None
    process = _start_node(options, engine, warmup) if options.start_node else None
    stack.callback(stop_node_process, process)
    if options.listen_only:
        wall = _listen(node, options, tally, listener, min(expected, options.max_frames or expected), process)
    else:
        wall = _play(node, reader, options, tally, listener, process)
    spin_until(node, time.monotonic() + 1.2)  # one more diagnostics message
    parameters = listener.node_parameters(list(engine_parameters(engine)[0]))
    return listener, wall, parameters


def _start_node(
    options: ReplayOptions, engine: EngineOptions, warmup: tuple[int, int] | None
) -> subprocess.Popen[bytes]:
    """``segmentation_node`` in its own process, remapped onto the bag's topics (as the launch file does).

    ``warmup`` is the bag's first image size (width, height): the node warms
    up for it as well as for its model size.
    """
    ns = options.segmentation_ns.rstrip("/")
    if not ns.endswith(_SEGMENTATION):
        msg = "--start-node needs --segmentation-ns to end in /segmentation (the node publishes there)"
        raise LednetError(msg)
    namespace = ns[: -len(_SEGMENTATION)] or "/"
    params, env = engine_parameters(engine)
    if warmup is not None:  # the bag's image size too, so the first frame does not pay for its output-size steps
        params = {"warmup_image_sizes": [f"{warmup[0]}x{warmup[1]}"], **params}
    command = node_command(
        namespace,
        {node_topics.IMAGE: options.image_topic, node_topics.CAMERA_INFO: options.camera_info_topic},
        # Output history as deep as the listener's: a depth-1 writer replaces labels the listener has not taken yet.
        {"diagnostics_period": 0.5, "input_qos_reliability": "reliable", "output_qos_depth": OUTPUT_HISTORY, **params},
    )
    return start_node_process(command, options.out / NODE_LOG, env)


def _first_image_size(reader: Any, topic: str) -> tuple[int, int] | None:
    """(width, height) of the first image on ``topic``, if the node would accept it as a warm-up size; else None.

    The node's own default ``max_input_pixels`` applies (the started node
    gets no other), and a size it would refuse must not stop it from starting.
    """
    connections = [c for c in reader.connections if c.topic == topic]
    for connection, _, raw in reader.messages(connections=connections):
        try:
            message = reader.deserialize(raw, connection.msgtype)
            size = (int(message.width), int(message.height))
            check_image_size(*size, DEFAULT_MAX_PIXELS, "warm-up size")
        except Exception:  # corrupt or refused: the replay counts that frame later; no warm-up for it
            return None
        return size
    return None


def _play(node: Any, reader: Any, options: ReplayOptions, tally: ReplayTally, listener: OutputListener,
          process: subprocess.Popen[bytes] | None) -> float:  # fmt: skip
    """Publish the bag into the node; returns the wall time it took."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
    from sensor_msgs.msg import CameraInfo, Image  # noqa: PLC0415

    from lednet_ros.ros.player import spin_until, wait_for_node  # noqa: PLC0415

    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    image_topic = options.image_topic
    publishers = {image_topic: node.create_publisher(Image, image_topic, qos)}
    if options.camera_info_topic in {c.topic for c in reader.connections}:
        publishers[options.camera_info_topic] = node.create_publisher(CameraInfo, options.camera_info_topic, qos)
    wait_for_node(node, listener, publishers[image_topic], process, options.wait, options.out / NODE_LOG,
                  options.delay)  # fmt: skip
    connections = [c for c in reader.connections if c.topic in publishers]
    total = sum(c.msgcount for c in connections if c.topic == image_topic)
    total = min(total, options.max_frames) if options.max_frames else total
    bar = tqdm(total=total, desc="replaying", unit="frame", disable=None)
    start = time.monotonic()
    first_bag_ns: int | None = None
    for connection, bag_ns, raw in reader.messages(connections=connections):
        is_image = connection.topic == image_topic
        if is_image and tally.stats.sent >= total:
            break
        first_bag_ns = bag_ns if first_bag_ns is None else first_bag_ns
        if options.lockstep:
            if is_image:
                spin_until(node, time.monotonic() + options.frame_timeout, lambda: tally.in_flight == 0)
        else:
            spin_until(node, start + (bag_ns - first_bag_ns) / 1e9 / options.rate)
        try:
            message = reader.deserialize(raw, connection.msgtype)
            if is_image:  # a frame the node would reject is not sent (nor decoded here): skipped and counted
                check_image_size(message.width, message.height, options.max_input_pixels, "frame")
            rgb = decode_message(message).rgb() if is_image and tally.wants_input_pixels() else None
            stamp = header_stamp_ns(message.header)
            payload = bytes(raw) if reader.is2 else reader.typestore.serialize_cdr(message, connection.msgtype)
        except ImageTooLargeError:
            tally.stats.rejected_frames += 1
            continue
        except Exception:  # a corrupt message is skipped and counted, as the offline evaluation does
            tally.stats.corrupt_messages += 1
            continue
        publishers[connection.topic].publish(payload)
        if is_image:
            tally.frame_sent(stamp, time.monotonic(), rgb)
            bar.update(1)
    wall = time.monotonic() - start
    spin_until(node, time.monotonic() + options.settle, lambda: tally.in_flight == 0)
    bar.close()
    return wall


def _listen(node: Any, options: ReplayOptions, tally: ReplayTally, listener: OutputListener, expected: int,
            process: subprocess.Popen[bytes] | None) -> float:  # fmt: skip
    """Time frames some other player (``ros2 bag play``) publishes; returns the wall time."""
    from rclpy.qos import qos_profile_sensor_data  # noqa: PLC0415
    from rclpy.serialization import deserialize_message  # noqa: PLC0415
    from sensor_msgs.msg import Image  # noqa: PLC0415

    from lednet_ros.ros.player import spin_until, wait_for_node  # noqa: PLC0415

    def on_image(raw: bytes) -> None:
        try:
            stamp = cdr_header_stamp_ns(raw)
            pixels = (decode_message(deserialize_message(raw, Image), max_pixels=options.max_input_pixels)
                      if tally.wants_input_pixels() else None)  # fmt: skip
            rgb = pixels.rgb() if pixels is not None else None
        except ImageTooLargeError:
            tally.stats.rejected_frames += 1
            return
        except Exception:
            tally.stats.corrupt_messages += 1
            return
        tally.frame_sent(stamp, time.monotonic(), rgb)
        bar.update(1)

    node.create_subscription(Image, options.image_topic, on_image, qos_profile_sensor_data, raw=True)
    wait_for_node(node, listener, None, process, options.wait, options.out / NODE_LOG)
    _log.info("listening on %s and %s; play the bag now (stops %g s after the last frame)",
              options.image_topic, listener.labels_topic, options.idle_timeout)  # fmt: skip
    bar = tqdm(total=expected or None, desc="listening", unit="frame", disable=None)
    start = time.monotonic()
    last_count, last_change = 0, time.monotonic()
    while True:
        spin_until(node, time.monotonic() + 0.2)
        if tally.stats.sent != last_count:
            last_count, last_change = tally.stats.sent, time.monotonic()
        idle = time.monotonic() - last_change
        if (last_count and idle > options.idle_timeout) or (
            expected and last_count >= expected and tally.in_flight == 0
        ):
            break
        if not last_count and time.monotonic() - start > options.wait:
            msg = f"no frame arrived on {options.image_topic} within {options.wait:g} s"
            raise LednetError(msg)
    bar.close()
    return time.monotonic() - start


def _summary(tally: ReplayTally, listener: OutputListener, wall_s: float) -> dict[str, Any]:
    stats = tally.stats
    inference_p50 = listener.diagnostics.get(diagnostics.INFERENCE_P50_MS)
    return {
        "frames_sent": stats.sent, "outputs_received": stats.received, "frames_lost": stats.lost,
        "received_by_node": listener.node_counter(diagnostics.RECEIVED),
        "dropped_by_node": listener.node_counter(diagnostics.DROPPED),
        "rejected_by_node": listener.node_counter(diagnostics.REJECTED),
        "unexpected_outputs": stats.unexpected, "output_hz": round(stats.output_hz, 2),
        "input_hz": round(stats.input_hz, 2), "wall_s": round(wall_s, 2),
        "latency_ms": percentile_summary(stats.latencies_ms),
        "node_inference_p50_ms": None if inference_p50 is None else float(inference_p50),
        "losses": None if listener.first_diagnostics is None else diagnostics.frame_losses(
            stats.sent, diagnostics.counter_differences(listener.diagnostics, listener.first_diagnostics),
            stats.received),
    }  # fmt: skip
