"""``lednet-ros evaluate``: accuracy and inference time from a rosbag2, without ROS.

Reads a bag (sqlite3 or MCAP) with the ``rosbags`` library, pairs every image
on ``--image-topic`` with the ground-truth label image on ``--label-topic``
that has the same header stamp (or the nearest within ``--tolerance-ms``),
runs the engine on the image (or, with ``--predictions-topic``, takes the
predictions a node recorded in the bag) and accumulates the confusion matrix.

Ground truth may be ``mono8`` train ids or a colour-coded ``rgb8``/``bgr8``
image, mapped back through the class palette; ids outside the class set and
unknown colours count as ignore.

Writes ``report.json``, ``report.md``, ``confusion.png``, ``per_class_iou.png``
and ``samples.png`` (input, ground truth, prediction, errors) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from lednet_ros.commands.args import add_engine_arguments, engine_options, positive_int, run_guarded
from lednet_ros.errors import LednetError
from lednet_ros.evaluation.metrics import ConfusionMatrix, Scores
from lednet_ros.evaluation.stats import percentile_summary
from lednet_ros.msgs.image import DecodedImage, decode_compressed, decode_image
from lednet_ros.msgs.stamps import header_stamp_ns

if TYPE_CHECKING:
    from lednet_ros.inference.engine import SegmentationEngine
    from lednet_ros.model.classes import ClassConfig

__all__ = [
    "EvaluationResult",
    "add_bag_arguments",
    "decode_message",
    "ground_truth_ids",
    "main",
    "open_bag",
    "require_topic",
    "run",
    "write_report",
]

PROG = "lednet-ros evaluate"
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass
class EvaluationResult:
    """What an evaluation found."""

    scores: Scores
    frames: int
    unpaired_images: int
    unpaired_labels: int
    corrupt_messages: int
    inference_ms: list[float] = field(default_factory=list)
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    confusion: np.ndarray | None = None


def decode_message(message: Any, msgtype: str = "sensor_msgs/msg/Image") -> DecodedImage:
    """Pixels of an ``Image`` or ``CompressedImage`` message (rosbags or rclpy)."""
    if msgtype.endswith("CompressedImage"):
        return decode_compressed(message.format, message.data)
    return decode_image(
        message.encoding, message.height, message.width, message.step, message.is_bigendian, message.data
    )


def ground_truth_ids(decoded: DecodedImage, classes: ClassConfig) -> np.ndarray:
    """Label image as train ids: mono8 as is, colour images through the palette (unknown: ignore)."""
    if decoded.order == "mono":
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


class _Pairer:
    """Matches two stamped streams; exact stamps, or nearest within a tolerance."""

    def __init__(self, tolerance_ns: int) -> None:
        self.tolerance_ns = tolerance_ns
        self.pending: dict[str, dict[int, Any]] = {"image": {}, "label": {}}

    def add(self, kind: str, stamp: int, item: Any) -> tuple[Any, Any] | None:
        other = "label" if kind == "image" else "image"
        waiting = self.pending[other]
        match = stamp if stamp in waiting else None
        if match is None and self.tolerance_ns > 0 and waiting:
            nearest = min(waiting, key=lambda s: abs(s - stamp))
            match = nearest if abs(nearest - stamp) <= self.tolerance_ns else None
        if match is None:
            self.pending[kind][stamp] = item
            return None
        partner = waiting.pop(match)
        return (item, partner) if kind == "image" else (partner, item)


def require_topic(bag: Path, topics: dict[str, str], topic: str, allowed: tuple[str, ...], described: str) -> None:
    """Check that the bag has ``topic`` with one of the ``allowed`` message types.

    Raises:
        LednetError: the topic is absent (the message lists the bag's topics
            and types) or holds another type (``described`` says what it should be).
    """
    if topic not in topics:
        listing = ", ".join(f"{t} ({m})" for t, m in sorted(topics.items())) or "none"
        msg = f"{bag}: no topic {topic!r}; the bag has: {listing}"
        raise LednetError(msg)
    if topics[topic] not in allowed:
        msg = f"{bag}: topic {topic!r} holds {topics[topic]}, not {described}"
        raise LednetError(msg)


def open_bag(bag: Path) -> Any:
    """An opened ``rosbags`` AnyReader of a bag folder or its storage file.

    Raises:
        LednetError: the bag does not exist or cannot be read.
    """
    from rosbags.highlevel import AnyReader  # noqa: PLC0415

    if not bag.exists():
        msg = f"{bag}: no such bag"
        raise LednetError(msg)
    path = bag.parent if bag.is_file() and (bag.parent / "metadata.yaml").is_file() else bag
    try:
        reader = AnyReader([path])
        reader.open()
    except Exception as exc:
        msg = f"{bag}: cannot read as a rosbag2 ({type(exc).__name__}: {exc})"
        raise LednetError(msg) from None
    return reader


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
) -> EvaluationResult:
    """Evaluate ``engine`` (or recorded predictions) on the image/label pairs of a bag.

    Raises:
        LednetError: the bag is missing or unreadable, a topic is absent (the
            message lists the bag's topics) or is not an image topic.
    """
    if engine is None and predictions_topic is None:
        msg = "give an engine or a predictions topic"
        raise ValueError(msg)
    reader = open_bag(Path(bag))
    try:
        topics = {c.topic: c.msgtype for c in reader.connections}
        source_topic = predictions_topic or image_topic
        for topic in dict.fromkeys([source_topic, label_topic]):  # in this order, so the first problem is reported
            require_topic(Path(bag), topics, topic, IMAGE_TYPES, "sensor_msgs/Image or CompressedImage")
        connections = [c for c in reader.connections if c.topic in {source_topic, label_topic}]
        total = sum(c.msgcount for c in connections if c.topic == source_topic)
        matrix = ConfusionMatrix(classes.num_classes)
        pairer = _Pairer(round(tolerance_ms * 1e6))
        result = EvaluationResult(matrix.scores(), 0, 0, 0, 0)
        bar = tqdm(total=total, desc="evaluating", unit="frame", disable=None if progress else True)
        for connection, _, raw in reader.messages(connections=connections):
            kinds = [k for k, t in (("image", source_topic), ("label", label_topic)) if connection.topic == t]
            if "image" in kinds:
                bar.update(1)
            try:
                message = reader.deserialize(raw, connection.msgtype)
                decoded = decode_message(message, connection.msgtype)
            except Exception:  # a corrupt message of any kind is skipped and counted
                result.corrupt_messages += 1
                continue
            for kind in kinds:
                pair = pairer.add(kind, header_stamp_ns(message.header), decoded)
                if pair is not None:
                    _score_pair(pair, classes, matrix, result, engine=engine, predictions=predictions_topic is not None,
                                samples=samples)  # fmt: skip
        bar.close()
    finally:
        reader.close()
    result.unpaired_images = len(pairer.pending["image"])
    result.unpaired_labels = len(pairer.pending["label"])
    result.scores = matrix.scores()
    result.confusion = matrix.matrix
    return result


def _score_pair(pair: tuple[DecodedImage, DecodedImage], classes: ClassConfig, matrix: ConfusionMatrix,
                result: EvaluationResult, *, engine: SegmentationEngine | None, predictions: bool,
                samples: int) -> None:  # fmt: skip
    image, label = pair
    truth = ground_truth_ids(label, classes)
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


def write_report(result: EvaluationResult, classes: ClassConfig, out: Path, context: dict[str, Any]) -> dict[str, Any]:
    """``report.json``, ``report.md`` and the PNG figures; returns the JSON data."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    scores = result.scores
    report = {
        **scores.to_dict(classes.names),
        "frames": result.frames, "unpaired_images": result.unpaired_images, "unpaired_labels": result.unpaired_labels,
        "corrupt_messages": result.corrupt_messages, "inference_ms": percentile_summary(result.inference_ms), **context,
    }  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    if result.confusion is not None:
        write_confusion_png(result.confusion, classes, out / "confusion.png")
    fig, axis = plt.subplots(figsize=(9, 4), dpi=100)
    ious = [0.0 if math.isnan(v) else 100 * v for v in scores.per_class_iou]
    colors = [tuple(c / 255 for c in color) for color in classes.colors]
    axis.bar(range(classes.num_classes), ious, color=colors, edgecolor="black", linewidth=0.5)
    axis.set_xticks(range(classes.num_classes), classes.names, rotation=60, ha="right", fontsize=8)
    axis.set_ylabel("IoU (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"per-class IoU, mIoU {100 * scores.miou:.1f}%")
    fig.tight_layout()
    fig.savefig(out / "per_class_iou.png")
    plt.close(fig)

    if result.samples:
        palette = classes.palette()
        rows = []
        for image, truth, predicted in result.samples:
            errors = np.where(
                ((truth != predicted) & (truth != classes.ignore_id))[..., None], [255, 0, 0], [40, 40, 40]
            )
            rows.append(np.hstack([image, palette[truth], palette[predicted], errors.astype(np.uint8)]))
        width = max(r.shape[1] for r in rows)
        strip = np.vstack([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows])
        fig = plt.figure(figsize=(12, 12 * strip.shape[0] / strip.shape[1] + 0.6), dpi=100)
        plt.imshow(strip)
        plt.axis("off")
        plt.title("input | ground truth | prediction | errors (red)", fontsize=10)
        fig.savefig(out / "samples.png", bbox_inches="tight")
        plt.close(fig)
    return report


def write_confusion_png(matrix: np.ndarray, classes: ClassConfig, path: Path) -> None:
    """Row-normalised confusion matrix as an image."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=np.float64), where=rows > 0)
    fig, axis = plt.subplots(figsize=(8, 7), dpi=100)
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(classes.num_classes), classes.names, rotation=90, fontsize=7)
    axis.set_yticks(range(classes.num_classes), classes.names, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("ground truth")
    axis.set_title("confusion matrix (rows normalised)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def add_bag_arguments(parser: argparse.ArgumentParser) -> None:
    """The bag and the topics of its frames and ground truth (``evaluate`` and ``replay``)."""
    parser.add_argument("bag", type=Path, help="rosbag2 folder (or its .db3/.mcap file)")
    parser.add_argument("--image-topic", default="/camera/image_raw", help="camera images (default: /camera/image_raw)")
    parser.add_argument(
        "--label-topic",
        default="/camera/labels",
        help="ground truth, mono8 train ids or rgb8 colours (default: /camera/labels); replay: optional",
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros evaluate``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Score segmentation on a rosbag2 (sqlite3 or MCAP) against recorded ground truth."
    )
    add_bag_arguments(parser)
    parser.add_argument(
        "--predictions-topic", metavar="TOPIC", help="score recorded predictions (mono8) instead of running the model"
    )
    parser.add_argument("--tolerance-ms", type=float, default=0.0, help="pair stamps this close (default: 0, exact)")
    parser.add_argument("--samples", type=positive_int, default=4, help="frames shown in samples.png (default: 4)")
    parser.add_argument(
        "--out", type=Path, default=Path("out/evaluate"), metavar="DIR", help="output folder (default: out/evaluate)"
    )
    add_engine_arguments(parser)
    args = parser.parse_args(argv)
    if args.tolerance_ms < 0:
        parser.error("--tolerance-ms must not be negative")

    def body() -> int:
        from lednet_ros.model.checkpoint import default_checkpoint, load_checkpoint  # noqa: PLC0415

        engine = None if args.predictions_topic else engine_options(args).build_engine()
        classes = (
            engine.classes
            if engine
            else (load_checkpoint(args.weights) if args.weights else default_checkpoint()).meta.classes
        )
        result = run(args.bag, args.image_topic, args.label_topic, classes, engine=engine,
                     predictions_topic=args.predictions_topic, tolerance_ms=args.tolerance_ms, samples=args.samples)  # fmt: skip
        context = {
            "bag": str(args.bag), "image_topic": args.image_topic, "label_topic": args.label_topic,
            "predictions_topic": args.predictions_topic,
            "weights": engine.checkpoint.describe() if engine else None,
            "device": str(engine.device) if engine else None, "precision": engine.precision_name if engine else None,
            "model_size": list(engine.model_size) if engine else None,
        }  # fmt: skip
        report = write_report(result, classes, args.out, context)
        md = _markdown(report, classes)
        (args.out / "report.md").write_text(md, encoding="utf-8")
        print(md)
        print(f"wrote {args.out}/report.json, report.md, confusion.png, per_class_iou.png, samples.png")
        if result.frames == 0:
            print(f"{PROG}: error: no image/label pairs with matching stamps were found")
            return 1
        return 0

    return run_guarded(PROG, body)


def _markdown(report: dict[str, Any], classes: ClassConfig) -> str:
    ious = report["per_class_iou"]
    rows = [f"| {name} | {'n/a' if ious[name] is None else f'{100 * ious[name]:.1f}'} |" for name in classes.names]
    timing = report["inference_ms"]
    timing_line = (
        "n/a (recorded predictions)"
        if timing["p50"] is None
        else f"p50 {timing['p50']} ms, p95 {timing['p95']} ms, max {timing['max']} ms"
    )
    return "\n".join([
        f"# Evaluation of {report['bag']}", "",
        f"- mIoU **{100 * report['miou']:.2f}%**, pixel accuracy {100 * report['pixel_accuracy']:.2f}%, "
        f"frequency-weighted IoU {100 * report['fw_iou']:.2f}%",
        f"- frames scored {report['frames']}; unpaired images {report['unpaired_images']}, unpaired labels "
        f"{report['unpaired_labels']}, corrupt messages {report['corrupt_messages']}",
        f"- weights: {report['weights'] or 'recorded predictions on ' + str(report['predictions_topic'])}",
        f"- inference: {timing_line}", "",
        "| class | IoU % |", "| --- | ---: |", *rows, "",
    ])  # fmt: skip
