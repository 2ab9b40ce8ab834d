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
import math
from pathlib import Path

from tqdm import tqdm

from lednet_ros.commands.args import add_engine_arguments, engine_options, run_guarded
from lednet_ros.data.datasets import find_samples, read_label
from lednet_ros.data.image_files import read_rgb
from lednet_ros.evaluation.metrics import ConfusionMatrix, Scores
from lednet_ros.inference.engine import SegmentationEngine

__all__ = ["main", "run"]

PROG = "lednet-ros score"


def run(engine: SegmentationEngine, data: str | Path, split: str, *, progress: bool = True) -> Scores:
    """Score the engine on every image of ``split``."""
    samples = find_samples(data, split)
    matrix = ConfusionMatrix(engine.classes.num_classes)
    for sample in tqdm(samples, desc=f"scoring {split}", unit="image", disable=None if progress else True):
        prediction = engine.infer(read_rgb(sample.image), confidence=False).labels
        matrix.update(read_label(sample, engine.classes), prediction)
    return matrix.scores()


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
    add_engine_arguments(parser)
    args = parser.parse_args(argv)

    def body() -> int:
        engine = engine_options(args).build_engine()
        scores = run(engine, args.data, args.split)
        names = engine.classes.names
        record = {"weights": engine.checkpoint.describe(), "data": str(args.data), "split": args.split,
                  "model_size": list(engine.model_size), "device": str(engine.device),
                  "precision": engine.precision_name, **scores.to_dict(names)}  # fmt: skip
        rows = [
            f"| {name} | {'n/a' if math.isnan(iou) else f'{100 * iou:.1f}'} |"
            for name, iou in zip(names, scores.per_class_iou, strict=True)
        ]
        text = "\n".join([
            f"# Score of {engine.checkpoint.meta.name} on {args.data} ({args.split})", "",
            f"- mIoU: **{100 * scores.miou:.2f}%** (over classes present in ground truth or prediction)",
            f"- pixel accuracy: {100 * scores.pixel_accuracy:.2f}%, frequency-weighted IoU: {100 * scores.fw_iou:.2f}%",
            f"- {scores.pixels} labelled pixels; model size {engine.model_size[0]}x{engine.model_size[1]}, {engine.device} {engine.precision_name}",
            "", "| class | IoU % |", "| --- | ---: |", *rows, "",
        ])  # fmt: skip
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "score.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (args.out / "score.md").write_text(text, encoding="utf-8")
        print(text)
        print(f"wrote {args.out / 'score.json'} and {args.out / 'score.md'}")
        return 0

    return run_guarded(PROG, body)
