"""What a replay through the live node measured: frames in and out, latency, and the accuracy of the output.

No ROS here: :class:`ReplayTally` is fed stamps, times and label images by
whoever listens to the node (:mod:`lednet_ros.ros.player`), so its
bookkeeping is tested without a node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from lednet_ros.data.bags import decode_message
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.evaluation.offline import EvaluationResult, ground_truth_ids
from lednet_ros.msgs.stamps import header_stamp_ns

if TYPE_CHECKING:
    from lednet_ros.model.classes import ClassConfig

__all__ = ["ReplayStats", "ReplayTally", "load_ground_truth"]


@dataclass
class ReplayStats:
    """What a replay measured."""

    sent: int = 0
    received: int = 0
    unexpected: int = 0
    corrupt_messages: int = 0
    rejected_frames: int = 0
    """Frames not sent: beyond the node's frame limits (``--max-input-pixels``), known from the message's size."""
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
    """Matches the node's outputs with the frames that went in, by header stamp.

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
        """The accuracy part in the offline evaluation's form, for the same report writer."""
        return EvaluationResult(
            scores=self.matrix.scores(), frames=self.scored, unpaired_images=self.stats.lost,
            unpaired_labels=0, corrupt_messages=self.stats.corrupt_messages,
            rejected_frames=self.stats.rejected_frames, samples=self.samples,
            confusion=self.matrix.matrix,
        )  # fmt: skip


def load_ground_truth(reader: Any, topic: str, classes: ClassConfig,
                      max_pixels: int | None = None) -> tuple[dict[int, bytes], int]:  # fmt: skip
    """Every label image of ``topic`` as PNG bytes by header stamp (compact: labels compress ~50x); and the corrupt count.

    ``reader`` is an opened rosbags reader (:func:`lednet_ros.data.bags.open_bag`). A label beyond
    ``max_pixels`` or the other frame limits is skipped before decoding and counted with the corrupt ones.
    """
    truth: dict[int, bytes] = {}
    corrupt = 0
    connections = [c for c in reader.connections if c.topic == topic]
    for connection, _, raw in reader.messages(connections=connections):
        try:
            message = reader.deserialize(raw, connection.msgtype)
            labels = ground_truth_ids(decode_message(message, max_pixels=max_pixels), classes)
        except Exception:  # a corrupt label is skipped and counted, as the offline evaluation does
            corrupt += 1
            continue
        ok, png = cv2.imencode(".png", labels)
        if ok:
            truth[header_stamp_ns(message.header)] = png.tobytes()
    return truth, corrupt
