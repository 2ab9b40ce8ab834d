from __future__ import annotations

import math

import numpy as np
import pytest

from lednet_ros.evaluation.metrics import ConfusionMatrix


def test_scores_match_a_confusion_matrix_computed_by_hand() -> None:
    truth = np.array([[0, 0, 1], [1, 2, 255]])
    prediction = np.array([[0, 1, 1], [1, 2, 0]])
    matrix = ConfusionMatrix(3)
    matrix.update(truth, prediction)
    assert matrix.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]  # the ignored pixel is not counted
    scores = matrix.scores()
    assert scores.per_class_iou == pytest.approx((1 / 2, 2 / 3, 1.0))
    assert scores.miou == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert scores.pixel_accuracy == pytest.approx(4 / 5)
    assert scores.fw_iou == pytest.approx(2 / 5 * 1 / 2 + 2 / 5 * 2 / 3 + 1 / 5 * 1)
    assert scores.pixels == 5


def test_classes_absent_everywhere_are_left_out_of_the_mean() -> None:
    matrix = ConfusionMatrix(4)
    matrix.update(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    scores = matrix.scores()
    assert math.isnan(scores.per_class_iou[2]) and math.isnan(scores.per_class_iou[3])
    assert scores.miou == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert scores.to_dict(("a", "b", "c", "d"))["per_class_iou"]["c"] is None


def test_a_class_only_predicted_counts_with_iou_zero() -> None:
    matrix = ConfusionMatrix(3)
    matrix.update(np.array([0, 0]), np.array([0, 2]))
    assert matrix.scores().per_class_iou == pytest.approx((0.5, float("nan"), 0.0), nan_ok=True)


def test_predictions_outside_the_classes_are_wrong_not_ignored() -> None:
    matrix = ConfusionMatrix(2)
    matrix.update(np.array([0, 1, 1]), np.array([0, 1, 255]))
    scores = matrix.scores()
    assert scores.pixels == 3
    assert scores.pixel_accuracy == pytest.approx(2 / 3)
    assert scores.per_class_iou == pytest.approx((1.0, 1 / 2))


def test_accumulating_images_equals_one_big_image_and_merge_adds() -> None:
    rng = np.random.default_rng(0)
    truth, prediction = rng.integers(0, 5, (2, 40, 40)), rng.integers(0, 5, (2, 40, 40))
    whole, parts, other = ConfusionMatrix(5), ConfusionMatrix(5), ConfusionMatrix(5)
    whole.update(truth, prediction)
    parts.update(truth[0], prediction[0])
    other.update(truth[1], prediction[1])
    parts.merge(other)
    assert np.array_equal(whole.matrix, parts.matrix)
    assert whole.matrix.sum() == 3200


def test_shape_mismatch_and_bad_size_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        ConfusionMatrix(2).update(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)
