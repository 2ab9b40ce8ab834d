"""``lednet-ros cvat-import``: corrected CVAT masks back in, as a training set and its class set.

Reads a CVAT "Segmentation mask 1.1" export (the zip archive, or its
unpacked folder) and writes a dataset that ``train``, ``score`` and
``evaluate``'s tools read: ``OUT/images``, ``OUT/labels`` (train ids, 255 =
ignore), ``OUT/classes.yaml`` (the class set of ``labelmap.txt``, for
``train --class-config``) and ``OUT/import.json`` (frames, and the pixels of
colours no label has, which are ignored). Rules and limits:
:mod:`lednet_ros.data.cvat`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lednet_ros.commands.args import add_max_pixels_argument, run_guarded
from lednet_ros.data.cvat import import_cvat

__all__ = ["build_parser", "main"]

PROG = "lednet-ros cvat-import"


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``lednet-ros cvat-import``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("export", type=Path, help="CVAT 'Segmentation mask 1.1' export: zip archive or folder")
    parser.add_argument("--out", type=Path, default=Path("out/cvat_import"), metavar="DIR",
                        help="dataset folder to write (default: out/cvat_import)")  # fmt: skip
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="where the images are, when the export has none (JPEGImages/ or images/)")  # fmt: skip
    add_max_pixels_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros cvat-import``."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        report = import_cvat(args.export, args.out, images=args.images, max_pixels=args.max_input_pixels)
        print(f"imported {report.frames} images with {report.classes.num_classes} classes "
              f"({', '.join(report.classes.names)}) into {report.out}; class set: {report.out / 'classes.yaml'}")  # fmt: skip
        if report.unknown_pixels:
            colours = ", ".join(f"({c}): {n}" for c, n in report.unknown_colours.most_common(5))
            print(f"{report.unknown_pixels} pixels in {len(report.frames_with_unknown)} masks have colours no label "
                  f"has and are ignored: {colours}; see {report.out / 'import.json'}")  # fmt: skip
        return 0

    return run_guarded(PROG, body)
