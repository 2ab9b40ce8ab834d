"""Segmentation scores from a confusion matrix: IoU, mIoU, pixel accuracy, fwIoU.

Conventions (the Cityscapes benchmark's, and the authors' ``iouEval``):

* ``confusion[t, p]`` counts pixels of true class ``t`` predicted as ``p``;
* pixels whose ground truth is the ignore id (or any value >= the number of
  classes) are not counted at all; a prediction outside the class range (such
  as a void prediction published as 255) counts as wrong for its true class;
* a class's IoU is ``TP / (TP + FP + FN)``; it is undefined (NaN) for a class
  that appears in neither ground truth nor prediction;
* mIoU averages the defined IoUs, i.e. over classes present in the ground
  truth or predicted; fwIoU weights each class's IoU by its ground-truth
  frequency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ConfusionMatrix", "Scores"]


@dataclass(frozen=True)
class Scores:
    """Summary of a confusion matrix."""

    per_class_iou: tuple[float, ...]
    miou: float
    pixel_accuracy: float
    fw_iou: float
    pixels: int

    def to_dict(self, names: tuple[str, ...] | None = None) -> dict[str, object]:
        """Plain data for JSON; NaN IoUs become None."""
        ious = [None if np.isnan(v) else round(v, 6) for v in self.per_class_iou]
        per_class: object = dict(zip(names, ious, strict=True)) if names is not None else ious
        return {"miou": round(self.miou, 6), "pixel_accuracy": round(self.pixel_accuracy, 6),
                "fw_iou": round(self.fw_iou, 6), "per_class_iou": per_class, "pixels": self.pixels}  # fmt: skip


class ConfusionMatrix:
    """Accumulates a ``num_classes x num_classes`` confusion matrix over many images."""

    def __init__(self, num_classes: int) -> None:
        if not 1 <= num_classes <= 255:
            msg = f"num_classes must be in 1..255, got {num_classes}"
            raise ValueError(msg)
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
        # Pixels of true class t predicted as no class at all (e.g. a void output published as 255).
        self.missed = np.zeros(num_classes, dtype=np.int64)

    def update(self, truth: np.ndarray, prediction: np.ndarray) -> None:
        """Add one image (or a batch) of integer labels; shapes must match."""
        truth = np.asarray(truth)
        prediction = np.asarray(prediction)
        if truth.shape != prediction.shape:
            msg = f"ground truth {truth.shape} and prediction {prediction.shape} differ in shape"
            raise ValueError(msg)
        n = self.num_classes
        truth = truth.ravel().astype(np.int64)
        prediction = prediction.ravel().astype(np.int64)
        valid = (truth >= 0) & (truth < n)
        truth, prediction = truth[valid], prediction[valid]
        in_range = (prediction >= 0) & (prediction < n)
        # A prediction outside the classes is wrong: a false negative of its true class only.
        self.missed += np.bincount(truth[~in_range], minlength=n)
        self.matrix += np.bincount(truth[in_range] * n + prediction[in_range], minlength=n * n).reshape(n, n)

    def merge(self, other: ConfusionMatrix) -> None:
        """Add another matrix (e.g. from another worker)."""
        if other.num_classes != self.num_classes:
            msg = "cannot merge confusion matrices of different sizes"
            raise ValueError(msg)
        self.matrix += other.matrix
        self.missed += other.missed

    def scores(self) -> Scores:
        """IoU per class, mIoU, pixel accuracy and frequency-weighted IoU."""
        m = self.matrix.astype(np.float64)
        true_positive = np.diag(m)
        truth_count = m.sum(axis=1) + self.missed
        predicted_count = m.sum(axis=0)
        union = truth_count + predicted_count - true_positive
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, true_positive / union, np.nan)
        total = float(truth_count.sum())
        defined = ~np.isnan(iou)
        miou = float(iou[defined].mean()) if defined.any() else float("nan")
        accuracy = float(true_positive.sum() / total) if total else float("nan")
        fw = float((truth_count[defined] / total * iou[defined]).sum()) if total else float("nan")
        return Scores(tuple(float(v) for v in iou), miou, accuracy, fw, int(total))
