"""``lednet-ros label``: labels and confidence bags with the inputs' headers, Cityscapes files, the hardest frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fleet_bags import MODEL, build_fleet

from lednet_ros.commands.label import main as label
from lednet_ros.data.bags import decode_message, open_bag
from lednet_ros.data.datasets import find_samples
from lednet_ros.fleet.mining import Hardest, doubt
from lednet_ros.inference.options import EngineOptions
from lednet_ros.msgs.stamps import header_stamp_ns


@pytest.fixture
def fleet(tmp_path_factory: pytest.TempPathFactory, checkpoint: object) -> Path:
    return build_fleet(tmp_path_factory.getbasetemp(), checkpoint)


def images(bag: Path, topic: str) -> list[tuple[int, str, np.ndarray]]:
    """(header stamp, frame id, pixels) of every message of ``topic``."""
    reader = open_bag(bag)
    try:
        found = []
        for connection, _, raw in reader.messages([c for c in reader.connections if c.topic == topic]):
            message = reader.deserialize(raw, connection.msgtype)
            found.append((header_stamp_ns(message.header), message.header.frame_id, decode_message(message).pixels))
        return found
    finally:
        reader.close()


def test_label_writes_the_nodes_outputs_per_bag_mirrored_and_the_hardest_frames(fleet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    status = label([str(fleet / "bags/day1"), "--image-topic", "/front/image_raw", "--image-topic", "/rear/image_raw",
                    "--cityscapes", "--hardest", "3", "--weights", str(fleet / "weights.pt"), *MODEL,
                    "--out", str(out)])  # fmt: skip
    assert status == 0  # b has no /rear camera: listed, not a failure
    engine = EngineOptions(str(fleet / "weights.pt"), precision="fp32", model_size=(64, 32), threads=1,
                           backend="onnxruntime").build_engine()  # fmt: skip
    doubts = []
    for bag, camera in (("a", "front"), ("a", "rear"), ("b", "front"), ("long", "front")):
        written = out / "bags" / bag / f"{camera}_image_raw"
        inputs = images(fleet / "bags/day1" / bag, f"/{camera}/image_raw")
        labels = images(written, f"/{camera}/segmentation/labels")
        confidence = images(written, f"/{camera}/segmentation/confidence")
        assert [(s, f) for s, f, _ in labels] == [(s, f) for s, f, _ in confidence] == [(s, f) for s, f, _ in inputs]
        first = engine.infer(np.ascontiguousarray(inputs[0][2]), order="bgr")
        assert np.array_equal(labels[0][2], first.labels) and np.array_equal(confidence[0][2], first.confidence)
        doubts += [(doubt(c), str((fleet / "bags/day1" / bag).resolve()), s) for s, _, c in confidence]
    assert not (out / "bags/b/rear_image_raw").exists()
    samples = find_samples(out / "cityscapes", "train")
    assert len(samples) == len(doubts) == 3 + 3 + 4 + 30
    manifest = json.loads((out / "hardest/manifest.json").read_text())
    assert [(r["score"], r["bag"], r["stamp"]) for r in manifest] == sorted(doubts, reverse=True)[:3]
    for row in manifest:
        assert (out / "hardest" / row["image"]).is_file() and (out / "hardest" / row["labels"]).is_file()
    assert not (out / "hardest/candidates").exists()


def test_the_hardest_keeps_the_top_n_in_bounded_memory() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(500)
    hardest = Hardest(7)
    for i, score in enumerate(scores):
        hardest.offer({"score": float(score), "i": i})
        assert len(hardest.records()) <= 7
    assert [r["i"] for r in hardest.records()] == list(np.argsort(-scores)[:7])


def test_outputs_mirror_the_folders_that_hold_the_bags_and_never_collide(tmp_path: Path) -> None:
    from lednet_ros.commands.label import _destinations

    bags = [tmp_path / "d1/bag", tmp_path / "d2/bag", tmp_path / "d2/more/bag"]
    assert _destinations(bags) == {str(bags[0]): "d1/bag", str(bags[1]): "d2/bag", str(bags[2]): "d2/more/bag"}
    assert _destinations([tmp_path / "d1/bag"]) == {str(tmp_path / "d1/bag"): "bag"}
