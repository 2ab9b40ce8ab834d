"""The offline evaluation (``lednet-ros evaluate``) on small generated bags, both storage formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import randomized_checkpoint

from lednet_ros.data.bags import BagWriter
from lednet_ros.data.generate import frame_seed
from lednet_ros.data.synthetic import street_scene
from lednet_ros.evaluation.metrics import ConfusionMatrix, Scores
from lednet_ros.evaluation.offline import PAIRING_KEEP, run
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import save_checkpoint
from lednet_ros.model.classes import load_class_config

CLASSES = load_class_config()
SIZE = (64, 32)


def assert_same_scores(a: Scores, b: Scores) -> None:
    """Scores equal field by field; NaN (a class seen nowhere) equals NaN."""
    assert np.allclose(a.per_class_iou, b.per_class_iou, rtol=0, atol=0, equal_nan=True)
    assert (a.miou, a.pixel_accuracy, a.fw_iou, a.pixels) == (b.miou, b.pixel_accuracy, b.fw_iou, b.pixels)


def damaged(labels: np.ndarray) -> np.ndarray:
    """A prediction with known errors: road on the left half called sidewalk."""
    out = labels.copy()
    left = out[:, : out.shape[1] // 2]
    left[left == 0] = 1
    return out


def make_bag(
    path: Path, storage: str, *, label_offset_ns: int = 0, colour_labels: bool = False, corrupt: bool = False
) -> list:
    frames = [street_scene(*SIZE, seed=frame_seed(7, i)) for i in range(4)]
    with BagWriter(path, storage) as bag:
        for i, frame in enumerate(frames):
            stamp = 1_700_000_000_000_000_000 + i * 100_000_000
            bag.write_image("/cam/image", frame.image[..., ::-1], "bgr8", stamp, "cam")
            if colour_labels:
                bag.write_image("/cam/labels", CLASSES.palette()[frame.labels], "rgb8", stamp + label_offset_ns, "cam")
            else:
                bag.write_image("/cam/labels", frame.labels, "mono8", stamp + label_offset_ns, "cam")
            bag.write_image("/cam/predicted", damaged(frame.labels), "mono8", stamp, "cam")
        bag.write_image("/cam/image", frames[0].image, "rgb8", 1_800_000_000_000_000_000, "cam")  # no label: unpaired
        if corrupt:
            bag.write_serialized(
                "/cam/labels", "sensor_msgs/msg/Image", b"\x00\x01\x00\x00garbage", 1_700_000_000_050_000_000
            )
    return frames


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_recorded_predictions_give_exactly_the_expected_miou(tmp_path: Path, storage: str) -> None:
    frames = make_bag(tmp_path / "bag", storage, corrupt=True)
    expected = ConfusionMatrix(19)
    for frame in frames:
        expected.update(frame.labels, damaged(frame.labels))
    result = run(
        tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted", progress=False
    )
    assert result.frames == 4
    assert_same_scores(result.scores, expected.scores())
    assert result.scores.miou < 1.0
    assert result.corrupt_messages == 1


def test_colour_coded_ground_truth_scores_like_train_ids(tmp_path: Path) -> None:
    make_bag(tmp_path / "mono", "sqlite3")
    make_bag(tmp_path / "colour", "sqlite3", colour_labels=True)
    a = run(tmp_path / "mono", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted", progress=False)
    b = run(
        tmp_path / "colour", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted", progress=False
    )
    assert_same_scores(a.scores, b.scores)


def test_stamps_pair_exactly_or_within_the_tolerance(tmp_path: Path) -> None:
    make_bag(tmp_path / "bag", "sqlite3", label_offset_ns=1_000_000)
    exact = run(
        tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted", progress=False
    )
    assert exact.frames == 0 and exact.unpaired_labels == 4
    near = run(tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted",
               tolerance_ms=2.0, progress=False)  # fmt: skip
    assert near.frames == 4


def test_the_command_runs_the_model_and_writes_the_report(tmp_path: Path) -> None:
    frames = make_bag(tmp_path / "bag", "mcap")
    checkpoint = randomized_checkpoint(3)
    weights = save_checkpoint(tmp_path / "w.pt", checkpoint.build_model(), checkpoint.meta)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "lednet_ros", "evaluate", str(tmp_path / "bag"), "--image-topic", "/cam/image",
         "--label-topic", "/cam/labels", "--weights", str(weights), "--model-size", "64x32", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    for key in ("miou", "per_class_iou", "pixel_accuracy", "fw_iou", "frames", "unpaired_images", "unpaired_labels",
                "inference_ms", "weights", "device", "precision"):  # fmt: skip
        assert key in report, key
    assert report["frames"] == 4 and report["unpaired_images"] == 1
    assert report["inference_ms"]["p50"] > 0
    engine = SegmentationEngine(weights, device="cpu", model_size=SIZE)
    expected = ConfusionMatrix(19)
    for frame in frames:
        expected.update(frame.labels, engine.infer(frame.image).labels)
    assert report["miou"] == pytest.approx(expected.scores().miou, abs=1e-4)
    for name in ("report.md", "confusion.png", "per_class_iou.png", "samples.png"):
        assert (out / name).stat().st_size > 0, name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/bag"], "no such bag"),
        (["BAG", "--image-topic", "/cam/image", "--label-topic", "/nope"], "no topic '/nope'; the bag has: /cam/image"),
        (
            ["BAG", "--image-topic", "/cam/image", "--label-topic", "/cam/labels", "--predictions-topic", "/missing"],
            "no topic '/missing'",
        ),
    ],
)
def test_bad_bags_and_topics_are_one_error_line(tmp_path: Path, args: list[str], message: str) -> None:
    make_bag(tmp_path / "bag", "sqlite3")
    args = [str(tmp_path / "bag") if a == "BAG" else a for a in args]
    result = subprocess.run([sys.executable, "-m", "lednet_ros", "evaluate", *args, "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_streams_that_never_pair_are_all_counted_unpaired_however_long(tmp_path: Path) -> None:
    """More frames than the pairing keeps: the ones it gives up on and those still waiting both count."""
    frames = PAIRING_KEEP + 9
    labels = np.zeros((4, 8), np.uint8)
    with BagWriter(tmp_path / "bag", "sqlite3") as bag:
        for i in range(frames):
            stamp = 1_700_000_000_000_000_000 + i * 100_000_000
            bag.write_image("/cam/predicted", labels, "mono8", stamp, "cam")
            bag.write_image("/cam/labels", labels, "mono8", stamp + 1_000_000, "cam")
        bag.write_image("/cam/predicted", labels, "mono8", 1_900_000_000_000_000_000, "cam")  # pairs with the next
        bag.write_image("/cam/labels", labels, "mono8", 1_900_000_000_000_000_000, "cam")
    result = run(tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted",
                 progress=False)  # fmt: skip
    assert result.frames == 1
    assert (result.unpaired_images, result.unpaired_labels) == (frames, frames)


def test_an_image_left_waiting_at_the_end_of_the_bag_is_unpaired(tmp_path: Path) -> None:
    make_bag(tmp_path / "bag", "sqlite3")  # its last image has no label
    result = run(tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/predicted",
                 progress=False)  # fmt: skip
    assert (result.frames, result.unpaired_images, result.unpaired_labels) == (4, 0, 0)
    result = run(tmp_path / "bag", "/cam/image", "/cam/labels", CLASSES, predictions_topic="/cam/image",
                 progress=False)  # fmt: skip
    assert (result.frames, result.unpaired_images, result.unpaired_labels) == (4, 1, 0)
