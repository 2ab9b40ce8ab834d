"""``lednet-ros label``: pre-label a fleet's bags, and mine the frames the model finds hardest.

For every image of every bag (or folder of bags) it writes the node's
outputs with the input's header, labels and confidence, as new MCAP bags
under ``OUT/bags/``, mirroring the inputs' folder tree (one bag per input
bag and camera: ``OUT/bags/<bag>/<camera>/``, a slice of a long bag
``<bag>.partKofN``; :mod:`lednet_ros.fleet.labeling`). ``--cityscapes``
also writes the frames and predicted train ids in the layout ``lednet-ros
train`` reads (``OUT/cityscapes/``). ``--hardest N`` keeps the N frames of
the whole fleet the model doubts most, in the same pass and bounded memory,
and exports them to ``OUT/hardest/`` (images, predicted labels as
pre-annotations, ``manifest.json``/``.csv``). Runs in this process, or on
Ray with the fleet options; ``units.jsonl`` resumes it. Exit status as
``evaluate``'s: 0, 1 (error), 3 (some bags failed; ``label.md`` lists them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

from lednet_ros.commands.args import (
    add_engine_arguments,
    add_fleet_arguments,
    add_max_pixels_argument,
    cluster_options,
    engine_options,
    positive_int,
    run_guarded,
)
from lednet_ros.data.bags import DEFAULT_IMAGE_TOPIC

__all__ = ["main"]

PROG = "lednet-ros label"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros label``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Pre-label rosbag2 images (labels + confidence bags), optionally mine the hardest."
    )
    parser.add_argument("bags", type=Path, nargs="+", metavar="BAG", help="bags, or folders searched for them")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--image-topic", action="append", metavar="TOPIC",
        help=f"camera images; repeat for several cameras (default: {DEFAULT_IMAGE_TOPIC})",
    )  # fmt: skip
    parser.add_argument("--cityscapes", action="store_true", help="also write OUT/cityscapes/ for lednet-ros train")
    parser.add_argument("--split", default="train", help="the Cityscapes split to write (default: train)")
    parser.add_argument(
        "--hardest", type=positive_int, metavar="N", help="export the N frames of lowest mean confidence"
    )
    add_max_pixels_argument(parser)
    add_engine_arguments(parser)
    add_fleet_arguments(parser)
    return parser


def _destinations(bags: list[Path]) -> dict[str, str]:
    """Each bag's path relative to the folder that holds them all: distinct bags, distinct outputs."""
    root = Path(os.path.commonpath([bag.parent for bag in bags]))
    return {str(bag): str(bag.relative_to(root)) for bag in bags}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros label``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cpus_per_worker <= 0 or args.gpus_per_worker < 0:
        parser.error("--cpus-per-worker must be positive and --gpus-per-worker not negative")
    return run_guarded(PROG, lambda: _label(args))


def _label(args: argparse.Namespace) -> int:
    from lednet_ros.fleet.labeling import LabelJob  # noqa: PLC0415
    from lednet_ros.fleet.mining import CANDIDATES, Hardest, export  # noqa: PLC0415
    from lednet_ros.fleet.runner import run_units  # noqa: PLC0415
    from lednet_ros.fleet.units import Camera, find_bags, plan_units  # noqa: PLC0415

    bags = find_bags(args.bags)
    out = args.out.resolve()
    job = LabelJob(str(out), _destinations(bags), args.cityscapes, args.split, args.hardest or 0,
                   args.max_input_pixels)  # fmt: skip
    cameras = [Camera(topic) for topic in args.image_topic or [DEFAULT_IMAGE_TOPIC]]
    units = plan_units(bags, cameras, args.slice_frames)
    hardest = Hardest(args.hardest or 0)

    def mine(_unit: object, result: dict[str, Any]) -> None:
        for record in result.get("hardest", []):
            hardest.offer(record)

    options = engine_options(args)
    results = run_units(units, job, options, out, cluster=cluster_options(args), force=args.force, on_result=mine)
    summary = _summary(results)
    if args.hardest:
        summary["hardest"] = export(hardest, out / "hardest")
        shutil.rmtree(out / "hardest" / CANDIDATES, ignore_errors=True)
    (out / "label.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    md = _markdown(summary, args)
    (out / "label.md").write_text(md, encoding="utf-8")
    print(md)
    return 3 if summary["failed"] else 0


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [{k: r.get(k) for k in ("bag", "image_topic", "part", "parts", "status", "reason", "frames", "output")}
            for r in results]  # fmt: skip
    return {
        "bags": len({r["bag"] for r in results}), "units": len(results),
        "frames": sum(r.get("frames", 0) for r in results),
        "failed": [r for r in rows if r["status"] in ("failed", "incomplete")],
        "per_unit": rows, "nodes": sorted({r["node_id"] for r in results if r.get("node_id")}),
    }  # fmt: skip


def _markdown(summary: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"# Labelling of {summary['bags']} bags", "",
        f"- {summary['frames']} frames labelled in {summary['units']} units; outputs under {args.out}/bags/",
        f"- failed or incomplete: {len(summary['failed'])}",
        *(f"  - {r['bag']} {r['image_topic']}: {r['status']}: {r['reason']}" for r in summary["failed"]),
    ]  # fmt: skip
    if args.cityscapes:
        lines.append(f"- Cityscapes layout for lednet-ros train: {args.out}/cityscapes/ (split {args.split})")
    if args.hardest:
        lines += [f"- the {len(summary['hardest'])} hardest frames: {args.out}/hardest/manifest.json", "",
                  "| score | bag | topic | stamp |", "| ---: | --- | --- | ---: |",
                  *(f"| {r['score']:.4f} | {r['bag']} | {r['topic']} | {r['stamp']} |" for r in summary["hardest"])]  # fmt: skip
    return "\n".join([*lines, ""])
