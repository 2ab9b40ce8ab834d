"""The replay's bookkeeping, without a node: frames in, outputs out, latency and accuracy."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lednet_ros.data.bags import BagWriter, open_bag
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.evaluation.tally import ReplayTally, load_ground_truth
from lednet_ros.model.classes import load_class_config

CLASSES = load_class_config()


def test_tally_pairs_by_stamp_counts_losses_and_scores_like_a_confusion_matrix() -> None:
    rng = np.random.default_rng(0)
    truths = {s: rng.integers(0, 19, (6, 8), dtype=np.uint8) for s in range(1, 6)}
    encoded = {s: cv2.imencode(".png", t)[1].tobytes() for s, t in truths.items()}
    tally = ReplayTally(CLASSES, encoded, samples=1)
    for stamp in range(1, 6):
        tally.frame_sent(stamp, 10.0 + stamp, np.full((6, 8, 3), stamp, np.uint8))
    predictions = {s: np.where(rng.random((6, 8)) < 0.7, truths[s], 3).astype(np.uint8) for s in (2, 4)}
    tally.output_received(2, 12.25, predictions[2])
    assert tally.in_flight == 3  # frame 1 is settled (lost) by the newer output
    tally.output_received(1, 12.5, predictions[2])  # older than an output already seen: not ours any more
    tally.output_received(4, 14.5, predictions[4])
    tally.output_received(4, 14.6, predictions[4])  # a duplicate
    assert tally.in_flight == 1
    stats = tally.stats
    assert (stats.sent, stats.received, stats.lost, stats.unexpected) == (5, 2, 3, 2)
    assert stats.latencies_ms == pytest.approx([250.0, 500.0])
    assert stats.output_hz == pytest.approx(1 / 2.25)
    expected = ConfusionMatrix(CLASSES.num_classes)
    expected.update(truths[2], predictions[2])
    expected.update(truths[4], predictions[4])
    assert np.array_equal(tally.evaluation().confusion, expected.matrix)
    assert len(tally.samples) == 1 and int(tally.samples[0][0][0, 0, 0]) == 2  # the input kept for that frame


def test_outputs_of_another_size_are_counted_not_scored() -> None:
    truth = cv2.imencode(".png", np.zeros((6, 8), np.uint8))[1].tobytes()
    tally = ReplayTally(CLASSES, {7: truth})
    tally.frame_sent(7, 1.0)
    tally.output_received(7, 1.1, np.zeros((3, 4), np.uint8))
    assert (tally.stats.received, tally.scored, tally.size_mismatches) == (1, 0, 1)
    assert tally.evaluation().frames == 0


def test_ground_truth_loads_as_png_train_ids_by_stamp_and_counts_corrupt_labels(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 2, 200]], np.uint8)  # 200 is no class: ignore
    with BagWriter(tmp_path / "bag") as bag:
        bag.write_image("/cam/labels", labels, "mono8", 5_000, "cam")
        bag.write_image("/cam/labels", CLASSES.palette()[labels[:, :3]], "rgb8", 6_000, "cam")
        bag.write_serialized("/cam/labels", "sensor_msgs/msg/Image", b"\x00\x01\x00\x00garbage", 7_000)
    reader = open_bag(tmp_path / "bag")
    try:
        truth, corrupt = load_ground_truth(reader, "/cam/labels", CLASSES)
    finally:
        reader.close()
    assert corrupt == 1 and sorted(truth) == [5_000, 6_000]
    decoded = {s: cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED) for s, png in truth.items()}
    assert decoded[5_000].tolist() == [[0, 1, 2, CLASSES.ignore_id]]
    assert decoded[6_000].tolist() == [[0, 1, 2]]
