"""Accuracy and inference time from a rosbag2, without ROS: the library of ``lednet-ros evaluate``.

Reads a bag (sqlite3 or MCAP) with the ``rosbags`` library, pairs every image
with the ground-truth label image that has the same header stamp (or the
nearest within a tolerance), runs the engine on the image (or takes the
predictions a node recorded in the bag) and accumulates the confusion matrix.

Ground truth may be ``mono8`` train ids or a colour-coded ``rgb8``/``bgr8``
image, mapped back through the class palette; ids outside the class set and
unknown colours count as ignore.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from lednet_ros.data.bags import IMAGE_TYPES, decode_message, open_bag, require_topic
from lednet_ros.errors import ImageTooLargeError
from lednet_ros.evaluation.metrics import ConfusionMatrix, Scores
from lednet_ros.limits import DEFAULT_MAX_PIXELS
from lednet_ros.msgs.stamps import StampPairing, header_stamp_ns

if TYPE_CHECKING:
    from lednet_ros.inference.engine import SegmentationEngine
    from lednet_ros.model.classes import ClassConfig
    from lednet_ros.msgs.image import DecodedImage

__all__ = ["PAIRING_KEEP", "EvaluationResult", "ground_truth_ids", "run"]

PAIRING_KEEP = 64
"""Unpaired images (and labels) held while waiting for their partner.

A bag is ordered by receive time; a label (or a recorded prediction) arrives
at most a few frames after its image, even from a node that lags the camera,
so 64 frames is ample while it bounds memory on a bag whose topics never pair.
Like message_filters' ApproximateTime, a pair settles every older waiting
item of both topics: each topic is taken to be in stamp order (a camera's and
a node's are), and an item whose partner came out of that order is counted
unpaired.
"""


@dataclass
class EvaluationResult:
    """What an evaluation found."""

    scores: Scores
    frames: int
    unpaired_images: int
    unpaired_labels: int
    corrupt_messages: int
    rejected_frames: int = 0
    """Images or labels skipped for breaking the frame limits (``max_pixels``), checked before decoding."""
    inference_ms: list[float] = field(default_factory=list)
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    confusion: np.ndarray | None = None
    missed: np.ndarray | None = None
    """Per true class, pixels predicted as no class (:attr:`ConfusionMatrix.missed`): with ``confusion``, the matrix whole."""


def ground_truth_ids(decoded: DecodedImage, classes: ClassConfig, label_map: np.ndarray | None = None) -> np.ndarray:
    """Label image as train ids: mono8 as is (or through ``label_map``), colour images through the palette (unknown: ignore)."""
    if decoded.order == "mono":
        if label_map is not None:  # a 256-entry table (lednet_ros.data.label_map): source values -> train ids
            return label_map[np.asarray(decoded.pixels, dtype=np.uint8)]
        labels = np.array(decoded.pixels, dtype=np.uint8)
        labels[(labels >= classes.num_classes) & (labels != classes.ignore_id)] = classes.ignore_id
        return labels
    rgb = decoded.pixels if decoded.order == "rgb" else decoded.pixels[..., ::-1]
    code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    lookup = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(classes.colors)}
    keys = np.fromiter(lookup.keys(), dtype=np.int32)
    values = np.fromiter(lookup.values(), dtype=np.uint8)
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    position = np.clip(np.searchsorted(keys, code), 0, len(keys) - 1)
    return np.where(keys[position] == code, values[position], classes.ignore_id).astype(np.uint8)


def run(
    bag: str | Path,
    image_topic: str,
    label_topic: str,
    classes: ClassConfig,
    *,
    engine: SegmentationEngine | None = None,
    predictions_topic: str | None = None,
    tolerance_ms: float = 0.0,
    samples: int = 4,
    progress: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    label_map: np.ndarray | None = None,
    window_ns: tuple[int | None, int | None] = (None, None),
) -> EvaluationResult:
    """Evaluate ``engine`` (or recorded predictions) on the image/label pairs of a bag.

    An image or label that never found its partner, whether the pairing gave
    up on it or it was still waiting when the bag ended, counts as unpaired.
    One beyond ``max_pixels`` or the other frame limits
    (:func:`~lednet_ros.limits.check_image_size`, from its header) is skipped
    and counted in ``rejected_frames``, one that does not decode in ``corrupt_messages``.
    ``label_map`` (:func:`~lednet_ros.data.label_map.load_label_map`) maps mono8 ground truth drawn in another class set.
    ``window_ns`` (start, stop) reads only the messages received in [start, stop), a slice of a long bag.

    Raises:
        LednetError: the bag is missing or unreadable, a topic is absent (the
            message lists the bag's topics) or is not an image topic.
    """
    if engine is None and predictions_topic is None:
        msg = "give an engine or a predictions topic"
        raise ValueError(msg)
    reader = open_bag(Path(bag))
    source_topic = predictions_topic or image_topic
    matrix = ConfusionMatrix(classes.num_classes)
    pairing: StampPairing[DecodedImage, DecodedImage] = StampPairing(round(tolerance_ms * 1e6), PAIRING_KEEP)
    result = EvaluationResult(matrix.scores(), 0, 0, 0, 0)
    offered = {"image": 0, "label": 0}
    pairs = 0
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        for topic in dict.fromkeys([source_topic, label_topic]):  # in this order, so the first problem is reported
            require_topic(Path(bag), topics, topic, IMAGE_TYPES, "sensor_msgs/Image or CompressedImage")
        connections = [c for c in reader.connections if c.topic in {source_topic, label_topic}]
        total = sum(c.msgcount for c in connections if c.topic == source_topic)
        bar = tqdm(total=total, desc="evaluating", unit="frame", disable=None if progress else True)
        for connection, _, raw in reader.messages(connections=connections, start=window_ns[0], stop=window_ns[1]):
            kinds = [k for k, t in (("image", source_topic), ("label", label_topic)) if connection.topic == t]
            if "image" in kinds:
                bar.update(1)
            try:
                message = reader.deserialize(raw, connection.msgtype)
                decoded = decode_message(message, connection.msgtype, max_pixels=max_pixels)
            except ImageTooLargeError:  # skipped before decoding, as the node rejects it
                result.rejected_frames += 1
                continue
            except Exception:  # a corrupt message of any kind is skipped and counted
                result.corrupt_messages += 1
                continue
            stamp = header_stamp_ns(message.header)
            for kind in kinds:
                offered[kind] += 1
                add = pairing.add_left if kind == "image" else pairing.add_right
                pair = add(stamp, decoded)
                if pair is not None:
                    pairs += 1
                    _score_pair(pair, classes, matrix, result, engine=engine, predictions=predictions_topic is not None,
                                samples=samples, label_map=label_map)  # fmt: skip
        bar.close()
    finally:
        reader.close()
    result.unpaired_images += offered["image"] - pairs  # given up on, or still waiting at the end
    result.unpaired_labels += offered["label"] - pairs
    result.scores = matrix.scores()
    result.confusion = matrix.matrix
    result.missed = matrix.missed
    return result


def _score_pair(pair: tuple[DecodedImage, DecodedImage], classes: ClassConfig, matrix: ConfusionMatrix,
                result: EvaluationResult, *, engine: SegmentationEngine | None, predictions: bool,
                samples: int, label_map: np.ndarray | None = None) -> None:  # fmt: skip
    image, label = pair
    truth = ground_truth_ids(label, classes, label_map)
    if predictions:
        predicted = ground_truth_ids(image, classes)
        shown = np.zeros((*predicted.shape, 3), dtype=np.uint8)
    else:
        assert engine is not None
        pixels = np.ascontiguousarray(image.pixels)
        start = time.perf_counter()
        predicted = engine.infer(pixels, order="bgr" if image.order == "bgr" else "rgb", confidence=False).labels
        result.inference_ms.append((time.perf_counter() - start) * 1000.0)
        shown = image.rgb()
    if predicted.shape != truth.shape:
        result.unpaired_images += 1  # a size mismatch cannot be scored; counted with the unpaired
        return
    matrix.update(truth, predicted)
    result.frames += 1
    if len(result.samples) < samples:
        result.samples.append((shown, truth, predicted))
