"""``lednet-ros segment``: segment image files or folders into PNGs.

What it writes for each image is described in :mod:`lednet_ros.inference.files`.
``--cvat DIR`` also writes the predictions as pre-annotations for CVAT
("Segmentation mask 1.1": ``labelmap.txt`` from the weights' class set,
``SegmentationClass/``, ``JPEGImages/``, ``ImageSets/Segmentation/default.txt``;
:mod:`lednet_ros.data.cvat`). Zip the folder and import it into a CVAT task
that holds the same images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lednet_ros.commands.args import (
    add_alpha_argument,
    add_engine_arguments,
    add_max_pixels_argument,
    engine_options,
    run_guarded,
)
from lednet_ros.data.cvat import write_cvat
from lednet_ros.data.image_files import collect_images
from lednet_ros.inference.files import segment_files

__all__ = ["build_parser", "main"]

PROG = "lednet-ros segment"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros segment``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="image files or folders (searched recursively)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/segment"), metavar="DIR", help="output folder (default: out/segment)"
    )
    parser.add_argument(
        "--cvat", type=Path, metavar="DIR",
        help="also write the predictions as CVAT 'Segmentation mask 1.1' pre-annotations (with images) into DIR",
    )  # fmt: skip
    add_alpha_argument(parser)
    add_max_pixels_argument(parser)
    add_engine_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros segment``."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        images = collect_images(args.paths)  # bad paths fail before the model is built
        if not images:
            print(f"{PROG}: no images found in the given paths")
            return 1
        engine = engine_options(args).build_engine()
        print(f"weights: {engine.checkpoint.describe()}")
        result = segment_files(engine, args.paths, args.out, alpha=args.alpha, max_pixels=args.max_input_pixels)
        print(f"wrote {len(result.outputs)} x 3 PNGs and {result.summary_file}")
        if args.cvat:
            items = [
                (Path(str(o["input"])).stem, Path(str(o["input"])), Path(str(o["labels"]))) for o in result.outputs
            ]
            write_cvat(args.cvat, engine.classes, items)
            print(
                f"wrote CVAT pre-annotations for {len(items)} images to {args.cvat} (zip it, import as Segmentation mask 1.1)"
            )
        if result.failed:
            print(f"{len(result.failed)} input(s) could not be read; listed in {result.summary_file}")
            return 1
        return 0

    return run_guarded(PROG, body)
