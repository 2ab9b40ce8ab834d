"""``lednet-ros evaluate``: accuracy and inference time from a rosbag2, without ROS.

Pairs every image on ``--image-topic`` with the ground-truth label image on
``--label-topic`` that has the same header stamp (or the nearest within
``--tolerance-ms``), runs the engine on the image (or, with
``--predictions-topic``, takes the predictions a node recorded in the bag)
and scores it (:mod:`lednet_ros.evaluation.offline`).

Writes ``report.json``, ``report.md``, ``confusion.png``, ``per_class_iou.png``
and ``samples.png`` (input, ground truth, prediction, errors) to ``--out``.

Several bags, folders of bags, several cameras (``--image-topic`` and
``--label-topic`` given more than once, paired in order) or any Ray option
make it a fleet evaluation (:mod:`lednet_ros.fleet`): the same scoring per
unit, one report over all of them with a per-bag table, worst first, and
``units.jsonl`` to resume from. Exit status: 0 all scored, 1 an error or no
frame scored, 3 some bags failed or were scored only in part (the report
lists them with the reason). A bag without the label topic is listed, not
an error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lednet_ros.commands.args import (
    add_engine_arguments,
    add_fleet_arguments,
    add_max_pixels_argument,
    cluster_options,
    engine_options,
    positive_int,
    run_guarded,
)
from lednet_ros.data.bags import DEFAULT_IMAGE_TOPIC, DEFAULT_LABEL_TOPIC
from lednet_ros.data.label_map import LABEL_MAP_HELP, load_label_map
from lednet_ros.evaluation.offline import run
from lednet_ros.evaluation.report import evaluation_markdown, write_report
from lednet_ros.fleet.units import ALL_CAMERAS

__all__ = ["main"]

PROG = "lednet-ros evaluate"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros evaluate``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Score segmentation on a rosbag2 (sqlite3 or MCAP) against recorded ground truth."
    )
    parser.add_argument(
        "bags", type=Path, nargs="+", metavar="BAG",
        help="rosbag2 folders (or their .db3/.mcap files), or folders searched for them",
    )  # fmt: skip
    parser.add_argument(
        "--image-topic", action="append", metavar="TOPIC",
        help=f"camera images; repeat for several cameras, or '{ALL_CAMERAS}': every IMAGE topic (last name "
        f"image...) with a NAMESPACE/labels partner (default: {DEFAULT_IMAGE_TOPIC})",
    )  # fmt: skip
    parser.add_argument(
        "--label-topic", action="append", metavar="TOPIC",
        help="ground truth, mono8 train ids or rgb8 colours; one per --image-topic, in the same order "
        f"(default: {DEFAULT_LABEL_TOPIC})",
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
    add_fleet_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros evaluate``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tolerance_ms < 0:
        parser.error("--tolerance-ms must not be negative")
    args.image_topic = args.image_topic or [DEFAULT_IMAGE_TOPIC]
    args.label_topic = args.label_topic or [DEFAULT_LABEL_TOPIC]
    if len(args.image_topic) != len(args.label_topic):
        parser.error("give one --label-topic per --image-topic")
    if args.cpus_per_worker <= 0 or args.gpus_per_worker < 0:
        parser.error("--cpus-per-worker must be positive and --gpus-per-worker not negative")
    if _is_fleet(args):
        return run_guarded(PROG, lambda: _fleet(args))
    args.bag, args.image_topic, args.label_topic = args.bags[0], args.image_topic[0], args.label_topic[0]

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


def _is_fleet(args: argparse.Namespace) -> bool:
    """One bag, one camera and no Ray option: exactly the single-bag evaluation of old; anything more: the fleet."""
    (first, *more) = args.bags
    one_bag = not more and (first.is_file() or (first / "metadata.yaml").exists() or not first.exists())
    cameras = len(args.image_topic) > 1 or args.image_topic[0] == ALL_CAMERAS
    return not one_bag or cameras or cluster_options(args) is not None


def _fleet(args: argparse.Namespace) -> int:
    from lednet_ros.fleet.report import fleet_markdown, has_failures, write_fleet_report  # noqa: PLC0415
    from lednet_ros.fleet.runner import run_units  # noqa: PLC0415
    from lednet_ros.fleet.units import Camera, find_bags, plan_units  # noqa: PLC0415
    from lednet_ros.fleet.work import EvaluateJob  # noqa: PLC0415
    from lednet_ros.model.checkpoint import load_weights  # noqa: PLC0415 (torch)

    options = engine_options(args)
    checkpoint = load_weights(options.weights)
    cameras = [Camera(i, t) for i, t in zip(args.image_topic, args.label_topic, strict=True)]
    units = plan_units(find_bags(args.bags), cameras, args.slice_frames)
    classes = checkpoint.meta.classes
    label_map = tuple(load_label_map(args.label_map, classes).tolist()) if args.label_map else None
    job = EvaluateJob(classes, args.tolerance_ms, args.predictions_topic, args.max_input_pixels, label_map)
    results = run_units(units, job, options, args.out, cluster=cluster_options(args), force=args.force)
    context = {
        "inputs": [str(b) for b in args.bags], "cameras": [[c.image_topic, c.label_topic] for c in cameras],
        "predictions_topic": args.predictions_topic,
        "weights": None if args.predictions_topic else checkpoint.describe(),
    }  # fmt: skip
    report = write_fleet_report(results, job.classes, args.out, context)
    md = fleet_markdown(report, job.classes.names)
    (args.out / "report.md").write_text(md, encoding="utf-8")
    print(md)
    print(f"wrote {args.out}/report.json, report.md, confusion.png, per_class_iou.png, miou_histogram.png, units.jsonl")
    if report["frames"] == 0:
        print(f"{PROG}: error: no image/label pairs with matching stamps were found in any bag")
        return 1
    return 3 if has_failures(report) else 0
