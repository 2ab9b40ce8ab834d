"""``lednet-ros score``: accuracy of weights on a dataset split, through the engine.

Runs every image of a split (Cityscapes layout or image/label folders, as
``lednet-ros train`` reads) through :class:`SegmentationEngine`, exactly as
the node would, and accumulates the confusion matrix. Prints mIoU, pixel
accuracy, frequency-weighted IoU and per-class IoU, and writes
``score.json`` and ``score.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lednet_ros.commands.args import add_engine_arguments, engine_options, run_guarded
from lednet_ros.data.label_map import LABEL_MAP_HELP, load_label_map
from lednet_ros.evaluation.score import score_markdown, score_split

__all__ = ["main"]

PROG = "lednet-ros score"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lednet-ros score``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Score weights (mIoU, pixel accuracy, per-class IoU) on a dataset split."
    )
    parser.add_argument("data", help="dataset root (Cityscapes layout, or SPLIT/images + SPLIT/labels)")
    parser.add_argument("--split", default="val", help="split to score (default: val)")
    parser.add_argument(
        "--out", type=Path, default=Path("out/score"), metavar="DIR", help="output folder (default: out/score)"
    )
    parser.add_argument("--label-map", metavar="YAML", help=LABEL_MAP_HELP)
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        engine = engine_options(args).build_engine()
        label_map = load_label_map(args.label_map, engine.classes) if args.label_map else None
        scores = score_split(engine, args.data, args.split, label_map=label_map)
        record = {"weights": engine.checkpoint.describe(), "data": str(args.data), "split": args.split,
                  "model_size": list(engine.model_size), "device": str(engine.device),
                  "precision": engine.precision_name, "label_map": args.label_map, **scores.to_dict(engine.classes.names)}  # fmt: skip
        text = score_markdown(scores, engine, args.data, args.split)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "score.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (args.out / "score.md").write_text(text, encoding="utf-8")
        print(text)
        print(f"wrote {args.out / 'score.json'} and {args.out / 'score.md'}")
        return 0

    return run_guarded(PROG, body)
