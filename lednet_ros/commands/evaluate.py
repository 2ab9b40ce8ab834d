"""``lednet-ros evaluate``: accuracy and inference time from a rosbag2, without ROS.

Pairs every image on ``--image-topic`` with the ground-truth label image on
``--label-topic`` that has the same header stamp (or the nearest within
``--tolerance-ms``), runs the engine on the image (or, with
``--predictions-topic``, takes the predictions a node recorded in the bag)
and scores it (:mod:`lednet_ros.evaluation.offline`).

Writes ``report.json``, ``report.md``, ``confusion.png``, ``per_class_iou.png``
and ``samples.png`` (input, ground truth, prediction, errors) to ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lednet_ros.commands.args import (
    add_engine_arguments,
    add_max_pixels_argument,
    engine_options,
    positive_int,
    run_guarded,
)
from lednet_ros.data.bags import DEFAULT_IMAGE_TOPIC, DEFAULT_LABEL_TOPIC
from lednet_ros.data.label_map import LABEL_MAP_HELP, load_label_map
from lednet_ros.evaluation.offline import run
from lednet_ros.evaluation.report import evaluation_markdown, write_report

__all__ = ["main"]

PROG = "lednet-ros evaluate"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros evaluate``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Score segmentation on a rosbag2 (sqlite3 or MCAP) against recorded ground truth."
    )
    parser.add_argument("bag", type=Path, help="rosbag2 folder (or its .db3/.mcap file)")
    parser.add_argument(
        "--image-topic", default=DEFAULT_IMAGE_TOPIC, help=f"camera images (default: {DEFAULT_IMAGE_TOPIC})"
    )
    parser.add_argument(
        "--label-topic", default=DEFAULT_LABEL_TOPIC,
        help=f"ground truth, mono8 train ids or rgb8 colours (default: {DEFAULT_LABEL_TOPIC})",
    )  # fmt: skip
    parser.add_argument(
        "--predictions-topic", metavar="TOPIC", help="score recorded predictions (mono8) instead of running the model"
    )
    parser.add_argument("--tolerance-ms", type=float, default=0.0, help="pair stamps this close (default: 0, exact)")
    parser.add_argument("--samples", type=positive_int, default=4, help="frames shown in samples.png (default: 4)")
    parser.add_argument(
        "--out", type=Path, default=Path("out/evaluate"), metavar="DIR", help="output folder (default: out/evaluate)"
    )
    parser.add_argument("--label-map", metavar="YAML", help=f"{LABEL_MAP_HELP} (mono8 ground truth)")
    add_max_pixels_argument(parser)
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros evaluate``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tolerance_ms < 0:
        parser.error("--tolerance-ms must not be negative")

    def body() -> int:
        from lednet_ros.model.checkpoint import load_weights  # noqa: PLC0415 (torch)

        options = engine_options(args)
        engine = None if args.predictions_topic else options.build_engine()
        classes = engine.classes if engine is not None else load_weights(options.weights).meta.classes
        result = run(args.bag, args.image_topic, args.label_topic, classes, engine=engine,
                     predictions_topic=args.predictions_topic, tolerance_ms=args.tolerance_ms, samples=args.samples,
                     max_pixels=args.max_input_pixels,
                     label_map=load_label_map(args.label_map, classes) if args.label_map else None)  # fmt: skip
        context = {
            "bag": str(args.bag), "image_topic": args.image_topic, "label_topic": args.label_topic,
            "predictions_topic": args.predictions_topic,
            "weights": engine.checkpoint.describe() if engine else None,
            "device": str(engine.device) if engine else None, "precision": engine.precision_name if engine else None,
            "model_size": list(engine.model_size) if engine else None,
        }  # fmt: skip
        report = write_report(result, classes, args.out, context)
        md = evaluation_markdown(report, classes.names)
        (args.out / "report.md").write_text(md, encoding="utf-8")
        print(md)
        print(f"wrote {args.out}/report.json, report.md, confusion.png, per_class_iou.png, samples.png")
        if result.frames == 0:
            print(f"{PROG}: error: no image/label pairs with matching stamps were found")
            return 1
        return 0

    return run_guarded(PROG, body)
