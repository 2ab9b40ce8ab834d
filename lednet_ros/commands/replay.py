"""``lednet-ros replay``: a recorded drive through the live node, scored from the node's own output.

``lednet-ros evaluate`` runs the engine offline; this command measures what a
robot gets. It publishes a bag's image (and camera_info) messages, as they
were recorded (serialised bytes, original header stamps, like ``ros2 bag
play``), into a running ``segmentation_node`` (or one it starts with
``--start-node``), listens to the node's ``segmentation/labels`` and reports:

* per-frame latency: from publishing a frame to receiving its labels (p50,
  p95, max), matched by header stamp;
* the output rate, and the frames that never came back (dropped by the node
  or by best-effort transport), with the node's own drop counter from
  ``/diagnostics`` next to it;
* when the bag has ground-truth labels, the accuracy of the node's actual
  output (mIoU, per-class IoU, confusion matrix), as ``evaluate`` does.

Pacing: the recorded rate (default), ``--rate K`` times it, or
``--lockstep``: the next frame goes out as soon as the previous one's labels
are back, which is as fast as the node keeps up.

``--listen-only`` publishes nothing: play the bag with ``ros2 bag play`` and
this command times each frame from its arrival on the image topic to its
labels arriving, and scores them against the bag's labels.

Writes ``report.json``, ``report.md``, ``latency.png``, ``per_class_iou.png``,
``confusion.png`` and ``samples.png`` to ``--out``; ``--gif`` adds
``overlay.gif`` from the node's ``segmentation/overlay``; ``--record BAG``
writes what the node published to a new bag.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from tqdm import tqdm

from lednet_ros.commands.args import add_engine_arguments, engine_options, positive_int, run_guarded
from lednet_ros.commands.evaluate import (
    EvaluationResult,
    add_bag_arguments,
    decode_message,
    ground_truth_ids,
    open_bag,
    require_topic,
    write_report,
)
from lednet_ros.data.bags import STORAGE_PLUGINS, BagWriter
from lednet_ros.errors import LednetError
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.evaluation.stats import percentile_summary
from lednet_ros.msgs.stamps import cdr_header_stamp_ns, header_stamp_ns
from lednet_ros.ros.node_process import engine_parameters, node_command, start_node_process, stop_node_process

if TYPE_CHECKING:
    from lednet_ros.model.classes import ClassConfig

__all__ = ["ReplayStats", "ReplayTally", "main", "write_gif"]

PROG = "lednet-ros replay"
IMAGE = "sensor_msgs/msg/Image"
NODE_OUTPUTS = ("labels", "color", "overlay", "confidence", "camera_info")


@dataclass
class ReplayStats:
    """What a replay measured."""

    sent: int = 0
    received: int = 0
    unexpected: int = 0
    corrupt_messages: int = 0
    first_sent_s: float | None = None
    last_sent_s: float | None = None
    first_receive_s: float | None = None
    last_receive_s: float | None = None
    latencies_ms: list[float] = field(default_factory=list)
    receive_times_s: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Frames that went in and never came out."""
        return self.sent - self.received

    @property
    def input_hz(self) -> float:
        """Frames per second between the first and the last frame sent."""
        return _rate(self.sent, self.first_sent_s, self.last_sent_s)

    @property
    def output_hz(self) -> float:
        """Outputs per second between the first and the last output."""
        return _rate(self.received, self.first_receive_s, self.last_receive_s)


def _rate(count: int, first: float | None, last: float | None) -> float:
    if count < 2 or first is None or last is None or last <= first:
        return 0.0
    return (count - 1) / (last - first)


class ReplayTally:
    """Matches the node's outputs with the frames that went in, by header stamp; no ROS.

    The node never publishes an older frame after a newer one, so an output
    stamped ``S`` settles every frame before ``S``: one that has not come
    back by then never will. Those are forgotten at once, which keeps memory
    bounded by the frames in flight however long the bag is.

    Args:
        classes: the class set the node's labels use.
        ground_truth: PNG-encoded train-id images by header stamp, or None
            when the bag has no labels.
        samples: how many (input, truth, prediction) triples to keep for
            ``samples.png``.
    """

    def __init__(self, classes: ClassConfig, ground_truth: dict[int, bytes] | None, samples: int = 4) -> None:
        self.classes = classes
        self.ground_truth = ground_truth
        self.matrix = ConfusionMatrix(classes.num_classes)
        self.stats = ReplayStats()
        self.scored = 0
        self.size_mismatches = 0
        self.samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._samples_wanted = samples
        self._in_flight: dict[int, float] = {}
        self._inputs: dict[int, np.ndarray] = {}

    @property
    def in_flight(self) -> int:
        """Frames sent whose outputs have not arrived (and are not yet known to be lost)."""
        return len(self._in_flight)

    def wants_input_pixels(self) -> bool:
        """Whether the next frame's pixels are still needed for ``samples.png``."""
        return len(self.samples) < self._samples_wanted

    def frame_sent(self, stamp_ns: int, time_s: float, rgb: np.ndarray | None = None) -> None:
        """A frame went to the node at ``time_s`` (monotonic seconds)."""
        self.stats.sent += 1
        self.stats.first_sent_s = time_s if self.stats.first_sent_s is None else self.stats.first_sent_s
        self.stats.last_sent_s = time_s
        self._in_flight[stamp_ns] = time_s
        if rgb is not None:
            self._inputs[stamp_ns] = rgb

    def output_received(self, stamp_ns: int, time_s: float, labels: np.ndarray) -> None:
        """The node's labels for the frame stamped ``stamp_ns`` arrived at ``time_s``."""
        sent = self._in_flight.pop(stamp_ns, None)
        if sent is None:
            self.stats.unexpected += 1  # not a frame of this replay (or a duplicate)
            return
        for stamp in [s for s in self._in_flight if s < stamp_ns]:
            del self._in_flight[stamp]
            self._inputs.pop(stamp, None)
        stats = self.stats
        stats.received += 1
        stats.latencies_ms.append((time_s - sent) * 1000.0)
        stats.receive_times_s.append(time_s)
        stats.first_receive_s = time_s if stats.first_receive_s is None else stats.first_receive_s
        stats.last_receive_s = time_s
        rgb = self._inputs.pop(stamp_ns, None)
        encoded = self.ground_truth.get(stamp_ns) if self.ground_truth is not None else None
        if encoded is None:
            return
        truth = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED)
        if truth.shape != labels.shape:
            self.size_mismatches += 1
            return
        self.matrix.update(truth, labels)
        self.scored += 1
        if len(self.samples) < self._samples_wanted:
            shown = rgb if rgb is not None and rgb.shape[:2] == labels.shape else np.zeros((*labels.shape, 3), np.uint8)
            self.samples.append((shown, truth, labels.copy()))

    def evaluation(self) -> EvaluationResult:
        """The accuracy part in ``evaluate``'s form, for its report writer."""
        return EvaluationResult(
            scores=self.matrix.scores(), frames=self.scored, unpaired_images=self.stats.lost,
            unpaired_labels=0, corrupt_messages=self.stats.corrupt_messages, samples=self.samples,
            confusion=self.matrix.matrix,
        )  # fmt: skip


def load_ground_truth(reader: Any, topic: str, classes: ClassConfig) -> tuple[dict[int, bytes], int]:
    """Every label image of ``topic`` as PNG bytes by header stamp (compact: labels compress ~50x); and the corrupt count."""
    truth: dict[int, bytes] = {}
    corrupt = 0
    connections = [c for c in reader.connections if c.topic == topic]
    for connection, _, raw in reader.messages(connections=connections):
        try:
            message = reader.deserialize(raw, connection.msgtype)
            labels = ground_truth_ids(decode_message(message), classes)
        except Exception:  # a corrupt label is skipped and counted, as in evaluate
            corrupt += 1
            continue
        ok, png = cv2.imencode(".png", labels)
        if ok:
            truth[header_stamp_ns(message.header)] = png.tobytes()
    return truth, corrupt


def write_gif(frames: list[np.ndarray], path: Path, frame_ms: float) -> Path:
    """An animated GIF of RGB frames (loops forever)."""
    from PIL import Image as PilImage  # noqa: PLC0415 (Pillow comes with matplotlib)

    images = [PilImage.fromarray(f).convert("P", palette=PilImage.Palette.ADAPTIVE) for f in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(20, round(frame_ms)), loop=0)
    return path


def _thumbnail(rgb: np.ndarray, width: int = 480) -> np.ndarray:
    if rgb.shape[1] <= width:
        return rgb
    height = round(rgb.shape[0] * width / rgb.shape[1])
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


class _Listener:
    """The ROS side: subscriptions to the node's outputs and diagnostics (rclpy imported lazily)."""

    def __init__(self, node: Any, args: argparse.Namespace, tally: ReplayTally, recorder: BagWriter | None) -> None:
        from diagnostic_msgs.msg import DiagnosticArray  # noqa: PLC0415
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: PLC0415
        from rclpy.serialization import deserialize_message  # noqa: PLC0415
        from sensor_msgs.msg import CameraInfo, Image  # noqa: PLC0415

        self.node, self.tally, self.recorder = node, tally, recorder
        self._deserialize, self._image_type = deserialize_message, Image
        self.overlays: deque[np.ndarray] = deque(maxlen=args.gif_frames)
        self._gif = args.gif
        self.diagnostics: dict[str, str] = {}
        self.first_diagnostics: dict[str, str] | None = None
        self._image_topic = args.image_topic
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
        outputs = {"labels"} | set(args.record_outputs if recorder else ()) | ({"overlay"} if args.gif else set())
        self.output_topics = {name: f"{args.segmentation_ns.rstrip('/')}/{name}" for name in sorted(outputs)}
        for name, topic in self.output_topics.items():
            node.create_subscription(CameraInfo if name == "camera_info" else Image, topic,
                                     lambda raw, n=name, t=topic: self._on_output(n, t, raw), reliable, raw=True)  # fmt: skip
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_output(self, name: str, topic: str, raw: bytes) -> None:
        now = time.monotonic()
        if self.recorder is not None:
            msgtype = "sensor_msgs/msg/CameraInfo" if name == "camera_info" else "sensor_msgs/msg/Image"
            self.recorder.write_serialized(topic, msgtype, raw, time.time_ns())
        if name == "labels":
            message = self._deserialize(raw, self._image_type)
            labels = np.asarray(decode_message(message).pixels)
            self.tally.output_received(header_stamp_ns(message.header), now, labels)
        elif name == "overlay" and self._gif:
            message = self._deserialize(raw, self._image_type)
            self.overlays.append(_thumbnail(decode_message(message).rgb()))

    def _on_diagnostics(self, message: Any) -> None:
        for status in message.status:
            if status.name.endswith(f": {self._image_topic}"):
                self.diagnostics = {kv.key: kv.value for kv in status.values}
                if self.first_diagnostics is None:
                    self.first_diagnostics = dict(self.diagnostics)

    def node_counter(self, key: str) -> int | None:
        """Change of one of the node's diagnostics counters during the replay (None: never heard)."""
        if self.first_diagnostics is None or key not in self.diagnostics:
            return None
        return int(self.diagnostics[key]) - int(self.first_diagnostics.get(key, 0))

    def outputs_connected(self) -> bool:
        """Whether the node's labels publisher has been discovered."""
        return self.node.count_publishers(self.output_topics["labels"]) > 0

    def segmenter_subscribes(self, image_topic: str) -> bool:
        """Whether a node that publishes the labels also subscribes ``image_topic``.

        A subscriber count alone could be some other listener (a recorder,
        rviz2, a ``--listen-only`` replay) while the node is still starting.
        """
        labels = {
            (i.node_name, i.node_namespace)
            for i in self.node.get_publishers_info_by_topic(self.output_topics["labels"])
        }
        images = {(i.node_name, i.node_namespace) for i in self.node.get_subscriptions_info_by_topic(image_topic)}
        return bool(labels & images)


def _spin_until(node: Any, deadline: float, done: Any = None) -> None:
    import rclpy  # noqa: PLC0415

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (done is not None and done()):
            return
        rclpy.spin_once(node, timeout_sec=min(remaining, 0.05))


def _start_node(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """``segmentation_node`` in its own process, remapped onto the bag's topics (as the launch file does)."""
    ns = args.segmentation_ns.rstrip("/")
    if not ns.endswith("/segmentation"):
        msg = "--start-node needs --segmentation-ns to end in /segmentation (the node publishes there)"
        raise LednetError(msg)
    namespace = ns[: -len("/segmentation")] or "/"
    params, env = engine_parameters(engine_options(args))
    command = node_command(
        namespace,
        {"image": args.image_topic, "camera_info": args.camera_info_topic},
        {"diagnostics_period": 0.5, "input_qos_reliability": "reliable", **params},
    )
    return start_node_process(command, args.out / "node.log", env)


def _wait_for_node(node: Any, listener: _Listener, publisher: Any, process: subprocess.Popen[bytes] | None,
                   timeout_s: float, out: Path, delay_s: float = 1.0) -> None:  # fmt: skip
    import rclpy  # noqa: PLC0415

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
            tail = (out / "node.log").read_text(errors="replace").strip().splitlines()[-1:]
            msg = f"the node exited with status {process.returncode}: {tail[0] if tail else 'no output'}"
            raise LednetError(msg)
        if time.monotonic() > deadline:
            msg = (
                f"no segmentation node publishes {listener.output_topics['labels']}"
                + ("" if publisher is None else " while subscribing the image topic")
                + f" after {timeout_s:g} s; start one (or use --start-node) and check --segmentation-ns"
            )
            raise LednetError(msg)
    _spin_until(node, time.monotonic() + delay_s)  # let the other endpoints match before the first frame


def _replay(node: Any, reader: Any, args: argparse.Namespace, tally: ReplayTally, listener: _Listener,
            process: subprocess.Popen[bytes] | None) -> float:  # fmt: skip
    """Publish the bag into the node; returns the wall time it took."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: PLC0415
    from sensor_msgs.msg import CameraInfo, Image  # noqa: PLC0415

    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    topics = {c.topic for c in reader.connections}
    publishers = {args.image_topic: node.create_publisher(Image, args.image_topic, qos)}
    if args.camera_info_topic in topics:
        publishers[args.camera_info_topic] = node.create_publisher(CameraInfo, args.camera_info_topic, qos)
    _wait_for_node(node, listener, publishers[args.image_topic], process, args.wait, args.out, args.delay)
    connections = [c for c in reader.connections if c.topic in publishers]
    total = sum(c.msgcount for c in connections if c.topic == args.image_topic)
    if args.max_frames:
        total = min(total, args.max_frames)
    bar = tqdm(total=total, desc="replaying", unit="frame", disable=None)
    start = time.monotonic()
    first_bag_ns: int | None = None
    for connection, bag_ns, raw in reader.messages(connections=connections):
        is_image = connection.topic == args.image_topic
        if is_image and tally.stats.sent >= total:
            break
        first_bag_ns = bag_ns if first_bag_ns is None else first_bag_ns
        if args.lockstep:
            if is_image:
                _spin_until(node, time.monotonic() + args.frame_timeout, lambda: tally.in_flight == 0)
        else:
            _spin_until(node, start + (bag_ns - first_bag_ns) / 1e9 / args.rate)
        try:
            message = reader.deserialize(raw, connection.msgtype)
            rgb = decode_message(message).rgb() if is_image and tally.wants_input_pixels() else None
            stamp = header_stamp_ns(message.header)
            payload = bytes(raw) if reader.is2 else reader.typestore.serialize_cdr(message, connection.msgtype)
        except Exception:  # a corrupt message is skipped and counted, like evaluate does
            tally.stats.corrupt_messages += 1
            continue
        publishers[connection.topic].publish(payload)
        if is_image:
            tally.frame_sent(stamp, time.monotonic(), rgb)
            bar.update(1)
    wall = time.monotonic() - start
    _spin_until(node, time.monotonic() + args.settle, lambda: tally.in_flight == 0)
    bar.close()
    return wall


def _listen(node: Any, args: argparse.Namespace, tally: ReplayTally, listener: _Listener, expected: int,
            process: subprocess.Popen[bytes] | None) -> float:  # fmt: skip
    """Time frames some other player (``ros2 bag play``) publishes; returns the wall time."""
    from rclpy.qos import qos_profile_sensor_data  # noqa: PLC0415
    from rclpy.serialization import deserialize_message  # noqa: PLC0415
    from sensor_msgs.msg import Image  # noqa: PLC0415

    def on_image(raw: bytes) -> None:
        try:
            stamp = cdr_header_stamp_ns(raw)
            rgb = decode_message(deserialize_message(raw, Image)).rgb() if tally.wants_input_pixels() else None
        except Exception:
            tally.stats.corrupt_messages += 1
            return
        tally.frame_sent(stamp, time.monotonic(), rgb)
        bar.update(1)

    node.create_subscription(Image, args.image_topic, on_image, qos_profile_sensor_data, raw=True)
    _wait_for_node(node, listener, None, process, args.wait, args.out)
    print(f"{PROG}: listening on {args.image_topic} and {listener.output_topics['labels']}; "
          f"play the bag now (stops {args.idle_timeout:g} s after the last frame)", file=sys.stderr)  # fmt: skip
    bar = tqdm(total=expected or None, desc="listening", unit="frame", disable=None)
    start = time.monotonic()
    last_count, last_change = 0, time.monotonic()
    while True:
        _spin_until(node, time.monotonic() + 0.2)
        if tally.stats.sent != last_count:
            last_count, last_change = tally.stats.sent, time.monotonic()
        idle = time.monotonic() - last_change
        if (last_count and idle > args.idle_timeout) or (expected and last_count >= expected and tally.in_flight == 0):
            break
        if not last_count and time.monotonic() - start > args.wait:
            msg = f"no frame arrived on {args.image_topic} within {args.wait:g} s"
            raise LednetError(msg)
    bar.close()
    return time.monotonic() - start


def write_latency_png(stats: ReplayStats, path: Path) -> None:
    """Latency of every frame over the replay, and its distribution."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), dpi=100, gridspec_kw={"width_ratios": [2, 1]})
    times = np.asarray(stats.receive_times_s) - (stats.first_receive_s or 0.0)
    left.plot(times, stats.latencies_ms, ".-", linewidth=0.7, markersize=3)
    left.set_xlabel("time since the first output (s)")
    left.set_ylabel("publish-to-labels latency (ms)")
    left.set_title(f"{stats.received} of {stats.sent} frames came back, {stats.output_hz:.1f} Hz")
    left.grid(alpha=0.3)
    right.hist(stats.latencies_ms, bins=30, color="tab:blue")
    right.set_xlabel("latency (ms)")
    right.set_title("distribution")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _summary(stats: ReplayStats, listener: _Listener, wall_s: float) -> dict[str, Any]:
    return {
        "frames_sent": stats.sent, "outputs_received": stats.received, "frames_lost": stats.lost,
        "received_by_node": listener.node_counter("received"), "dropped_by_node": listener.node_counter("dropped"),
        "rejected_by_node": listener.node_counter("rejected"),
        "unexpected_outputs": stats.unexpected, "output_hz": round(stats.output_hz, 2),
        "input_hz": round(stats.input_hz, 2), "wall_s": round(wall_s, 2),
        "latency_ms": percentile_summary(stats.latencies_ms),
        "node_inference_p50_ms": float(listener.diagnostics["inference_p50_ms"])
        if "inference_p50_ms" in listener.diagnostics else None,
    }  # fmt: skip


def _markdown(report: dict[str, Any], classes: ClassConfig, has_truth: bool) -> str:
    replay = report["replay"]
    latency = replay["latency_ms"]
    lines = [
        f"# Replay of {report['bag']}", "",
        f"- mode: {replay['mode']}; node output {report['labels_topic']}",
        f"- frames sent {replay['frames_sent']}, outputs received {replay['outputs_received']}, lost "
        f"{replay['frames_lost']} (the node's own drop counter: {replay['dropped_by_node']}, rejected: "
        f"{replay['rejected_by_node']}); corrupt bag messages skipped: {report['corrupt_messages']}",
        f"- input {replay['input_hz']} Hz, output **{replay['output_hz']} Hz**",
        f"- publish-to-labels latency p50 **{latency['p50']} ms**, p95 {latency['p95']} ms, max {latency['max']} ms"
        f" (node inference p50 {replay['node_inference_p50_ms']} ms)",
    ]  # fmt: skip
    if has_truth and report["frames"]:
        ious = report["per_class_iou"]
        lines += [
            f"- accuracy of the node's output on {report['frames']} frames: mIoU **{100 * report['miou']:.2f}%**, "
            f"pixel accuracy {100 * report['pixel_accuracy']:.2f}%, frequency-weighted IoU {100 * report['fw_iou']:.2f}%",
            "", "| class | IoU % |", "| --- | ---: |",
            *(f"| {n} | {'n/a' if ious[n] is None else f'{100 * ious[n]:.1f}'} |" for n in classes.names),
        ]  # fmt: skip
    elif has_truth:
        lines.append("- accuracy: no output could be paired with a ground-truth label")
    else:
        lines.append(f"- accuracy: the bag has no {report['label_topic']} topic, so none is reported")
    return "\n".join([*lines, ""])


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros replay``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Replay a rosbag2 through the live segmentation node; latency, output rate, drops and accuracy.",
        epilog="With ROS 2 installed, the same figures from ros2 bag play: start the node, run "
        "'lednet-ros replay BAG --listen-only', then 'ros2 bag play BAG'.",
    )
    add_bag_arguments(parser)
    parser.add_argument(
        "--camera-info-topic",
        default="/camera/camera_info",
        help="replayed too when the bag has it (default: /camera/camera_info)",
    )
    parser.add_argument(
        "--segmentation-ns", default="/segmentation", metavar="NS",
        help="where the node publishes labels, overlay, ... (default: /segmentation, the launch file's default)",
    )  # fmt: skip
    pacing = parser.add_mutually_exclusive_group()
    pacing.add_argument("--rate", type=float, default=1.0, help="speed factor on the recorded rate (default: 1)")
    pacing.add_argument(
        "--lockstep", action="store_true", help="send each frame when the previous one's labels are back"
    )
    pacing.add_argument(
        "--listen-only", action="store_true", help="publish nothing: time and score what ros2 bag play sends"
    )
    parser.add_argument(
        "--start-node", action="store_true", help="start segmentation_node for the replay (the model options apply)"
    )
    parser.add_argument("--max-frames", type=positive_int, metavar="N", help="replay only the first N frames")
    parser.add_argument("--record", type=Path, metavar="BAG", help="write the node's outputs to this new bag")
    parser.add_argument(
        "--record-outputs", nargs="+", choices=NODE_OUTPUTS, default=["labels", "overlay", "camera_info"],
        metavar="NAME", help=f"outputs --record writes (default: labels overlay camera_info; any of {', '.join(NODE_OUTPUTS)})",
    )  # fmt: skip
    parser.add_argument("--storage", choices=sorted(STORAGE_PLUGINS), default="sqlite3", help="--record storage")
    parser.add_argument("--gif", action="store_true", help="also write overlay.gif from the node's overlays")
    parser.add_argument("--gif-frames", type=positive_int, default=40, help="last N overlays in the GIF (default: 40)")
    parser.add_argument("--samples", type=positive_int, default=4, help="frames shown in samples.png (default: 4)")
    parser.add_argument("--wait", type=float, default=90.0, help="seconds to wait for the node (default: 90)")
    parser.add_argument(
        "--delay", type=float, default=1.0,
        help="seconds between finding the node and the first frame, for other subscribers to match (default: 1)",
    )  # fmt: skip
    parser.add_argument(
        "--frame-timeout", type=float, default=5.0, help="--lockstep: give up on a frame after this (default: 5 s)"
    )
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds to wait for the last outputs after the bag ends (default: 5)"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=5.0,
        help="--listen-only: stop this long after the last frame (default: 5)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/replay"), metavar="DIR", help="output folder (default: out/replay)"
    )
    add_engine_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Do the replay the parsed arguments describe; write the report; return its JSON data."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from lednet_ros.model.checkpoint import default_checkpoint, load_checkpoint  # noqa: PLC0415

    classes = (load_checkpoint(args.weights) if args.weights else default_checkpoint()).meta.classes
    reader = open_bag(args.bag)
    args.out.mkdir(parents=True, exist_ok=True)
    recorder: BagWriter | None = None
    process: subprocess.Popen[bytes] | None = None
    import rclpy  # noqa: PLC0415

    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        require_topic(args.bag, topics, args.image_topic, (IMAGE,), IMAGE)
        has_truth = args.label_topic in topics
        if has_truth:
            require_topic(args.bag, topics, args.label_topic, (IMAGE,), IMAGE)
        truth, corrupt_labels = load_ground_truth(reader, args.label_topic, classes) if has_truth else ({}, 0)
        tally = ReplayTally(classes, truth if has_truth else None, args.samples)
        tally.stats.corrupt_messages += corrupt_labels
        expected = sum(c.msgcount for c in reader.connections if c.topic == args.image_topic)
        if args.record is not None:
            recorder = BagWriter(args.record, args.storage)
            recorder.__enter__()
        rclpy.init()
        node = rclpy.create_node(f"lednet_replay_{os.getpid()}")
        try:
            listener = _Listener(node, args, tally, recorder)
            if args.start_node:
                process = _start_node(args)
            if args.listen_only:
                wall = _listen(node, args, tally, listener, min(expected, args.max_frames or expected), process)
            else:
                wall = _replay(node, reader, args, tally, listener, process)
            _spin_until(node, time.monotonic() + 1.2)  # one more diagnostics message
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
    finally:
        stop_node_process(process)
        reader.close()
        if recorder is not None:
            recorder.__exit__()
    summary = _summary(tally.stats, listener, wall)
    summary["mode"] = "listen-only" if args.listen_only else "lockstep" if args.lockstep else f"rate x{args.rate:g}"
    context = {
        "bag": str(args.bag), "image_topic": args.image_topic, "label_topic": args.label_topic,
        "labels_topic": listener.output_topics["labels"], "has_ground_truth": has_truth,
        "weights": listener.diagnostics.get("weights"), "device": listener.diagnostics.get("device"),
        "precision": listener.diagnostics.get("precision"), "replay": summary,
    }  # fmt: skip
    report = write_report(tally.evaluation(), classes, args.out, context)
    write_latency_png(tally.stats, args.out / "latency.png")
    (args.out / "report.md").write_text(_markdown(report, classes, has_truth), encoding="utf-8")
    if args.gif and listener.overlays:
        period_ms = 1000.0 / tally.stats.output_hz if tally.stats.output_hz > 0 else 100.0  # as fast as they came
        report["gif"] = str(write_gif(list(listener.overlays), args.out / "overlay.gif", period_ms))
    if args.record is not None:
        report["recorded"] = str(args.record)
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros replay``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (
        args.rate <= 0
        or args.wait <= 0
        or args.frame_timeout <= 0
        or args.idle_timeout <= 0
        or min(args.settle, args.delay) < 0
    ):
        parser.error(
            "--rate, --wait, --frame-timeout and --idle-timeout must be positive, --settle and --delay not negative"
        )

    def body() -> int:
        report = run(args)
        print((args.out / "report.md").read_text(encoding="utf-8"))
        files = ["report.json", "report.md", "latency.png", "per_class_iou.png", "confusion.png", "samples.png"]
        files += ["overlay.gif"] if "gif" in report else []
        print(f"wrote {', '.join(str(args.out / f) for f in files if (args.out / f).exists())}")
        if "recorded" in report:
            print(f"recorded the node's outputs to {report['recorded']}")
        if report["replay"]["outputs_received"] == 0:
            print(f"{PROG}: error: no output came back from the node on {report['labels_topic']}", file=sys.stderr)
            return 1
        return 0

    return run_guarded(PROG, body)
