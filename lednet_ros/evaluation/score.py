"""Accuracy of an engine on a dataset split (Cityscapes layout or image/label folders), as the node would see it.

Every image goes through :class:`~lednet_ros.inference.engine.SegmentationEngine`,
the same pre- and post-processing the node runs, and the confusion matrix
accumulates over the split.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from lednet_ros.data.datasets import find_samples, read_label
from lednet_ros.data.image_files import read_rgb
from lednet_ros.evaluation.metrics import ConfusionMatrix, Scores
from lednet_ros.evaluation.report import iou_table

if TYPE_CHECKING:
    from lednet_ros.inference.engine import SegmentationEngine

__all__ = ["score_markdown", "score_split"]


def score_split(engine: SegmentationEngine, data: str | Path, split: str, *, progress: bool = True,
                label_map: np.ndarray | None = None) -> Scores:  # fmt: skip
    """Score the engine on every image of ``split``; ``label_map`` maps labels drawn in another class set."""
    samples = find_samples(data, split, label_map)
    matrix = ConfusionMatrix(engine.classes.num_classes)
    for sample in tqdm(samples, desc=f"scoring {split}", unit="image", disable=None if progress else True):
        prediction = engine.infer(read_rgb(sample.image), confidence=False).labels
        matrix.update(read_label(sample, engine.classes), prediction)
    return matrix.scores()


def score_markdown(scores: Scores, engine: SegmentationEngine, data: str | Path, split: str) -> str:
    """``score.md``: the headline figures and the per-class IoU table."""
    width, height = engine.model_size
    return "\n".join([
        f"# Score of {engine.checkpoint.meta.name} on {data} ({split})", "",
        f"- mIoU: **{100 * scores.miou:.2f}%** (over classes present in ground truth or prediction)",
        f"- pixel accuracy: {100 * scores.pixel_accuracy:.2f}%, frequency-weighted IoU: {100 * scores.fw_iou:.2f}%",
        f"- {scores.pixels} labelled pixels; model size {width}x{height}, {engine.device} {engine.running_precision} ({engine.backend})",
        "", *iou_table(engine.classes.names, scores.per_class_iou), "",
    ])  # fmt: skip
