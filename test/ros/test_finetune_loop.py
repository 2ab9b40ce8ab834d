"""Your classes, your data: the README's whole fine-tuning loop, end to end on generated scenes.

Generate scenes, pre-label them with the packaged weights, export them for
CVAT, "correct" them (the generator's ground truth remapped to the 4-class
``config/road4.yaml`` replaces the masks and the label map), import them,
fine-tune, evaluate with the new class set, and run the node with the
fine-tuned weights: its labels and colours are the new class set's. Small
frames and two iterations: the loop is checked, not the accuracy.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from ros_helpers import Client, stamp_ns, start_node, stop_node

from lednet_ros.commands.cvat_import import main as cvat_import
from lednet_ros.commands.evaluate import main as evaluate
from lednet_ros.commands.segment import main as segment
from lednet_ros.commands.synth import main as synth
from lednet_ros.commands.train import main as train
from lednet_ros.data.cvat import LABELMAP, MASK_FOLDER, labelmap_text
from lednet_ros.data.label_map import load_label_map
from lednet_ros.data.synthetic import street_scene
from lednet_ros.model.checkpoint import DEFAULT_WEIGHTS_FILE, load_checkpoint
from lednet_ros.model.classes import load_class_config
from lednet_ros.resources import config_file, weights_directory

ROAD4 = config_file("road4.yaml")
TO_ROAD4 = config_file("cityscapes_to_road4.yaml")
ENGINE = ["--backend", "torch", "--precision", "fp32", "--device", "cpu"]


@pytest.fixture(scope="module")
def ros() -> Iterator[None]:
    rclpy.init()
    yield
    rclpy.try_shutdown()


def _correct(export: Path, scenes: Path) -> None:
    """What a labeller does in CVAT, here from the generator's truth: 4-class labels, each mask redrawn in them."""
    road4 = load_class_config(ROAD4)
    (export / LABELMAP).write_text(labelmap_text(road4), encoding="utf-8")
    lut, palette = load_label_map(TO_ROAD4, road4), road4.palette()
    for mask in sorted((export / MASK_FOLDER).glob("*.png")):
        stem = mask.name.removesuffix("_leftImg8bit.png")
        truth = cv2.imread(str(next(scenes.rglob(f"{stem}_gtFine_labelTrainIds.png"))), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(mask), palette[lut[truth]][..., ::-1])


def _fine_tune(tmp_path: Path) -> tuple[Path, Path]:
    """Steps 1 to 7; the fine-tuned weights and the evaluation report."""
    scenes, bag, export = tmp_path / "scenes", tmp_path / "held_out", tmp_path / "export"
    assert synth(["--out", str(scenes), "--frames", "6", "--width", "128", "--height", "64"]) == 0
    assert synth(["--out", str(bag), "--frames", "2", "--seed", "7", "--width", "128", "--height", "64", "--bag"]) == 0
    assert segment([str(scenes / "leftImg8bit"), "--out", str(tmp_path / "pre"), "--cvat", str(export),
                    "--model-size", "128x64", *ENGINE]) == 0  # fmt: skip
    _correct(export, scenes)
    archive = tmp_path / "corrected.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(p for p in export.rglob("*") if p.is_file()):
            zipped.write(path, path.relative_to(export).as_posix())
    data = tmp_path / "imported"
    assert cvat_import([str(archive), "--out", str(data)]) == 0
    weights = weights_directory() / DEFAULT_WEIGHTS_FILE
    assert train([str(data), "--out", str(tmp_path / "train"), "--class-config", str(data / "classes.yaml"),
                  "--init-weights", str(weights), "--size", "128x64", "--epochs", "1", "--batch-size", "3",
                  "--freeze-encoder-iterations", "1", "--device", "cpu"]) == 0  # fmt: skip
    fine_tuned = tmp_path / "train" / "last.pt"
    assert evaluate([str(bag / "bag"), "--weights", str(fine_tuned), "--label-map", str(TO_ROAD4),
                     "--out", str(tmp_path / "evaluate"), *ENGINE]) == 0  # fmt: skip
    return fine_tuned, tmp_path / "evaluate"


def test_the_whole_loop_from_generated_scenes_to_the_node(ros: None, tmp_path: Path) -> None:
    fine_tuned, evaluation = _fine_tune(tmp_path)
    road4 = load_class_config(ROAD4)
    checkpoint = load_checkpoint(fine_tuned)
    assert checkpoint.meta.classes.names == road4.names and checkpoint.meta.classes.colors == road4.colors
    report = json.loads((evaluation / "report.json").read_text())
    assert report["frames"] == 2 and "drivable" in (evaluation / "report.md").read_text()
    assert 0 < report["miou"] <= 1 and len(report["per_class_iou"]) == 4, report  # scored in the new class set

    log = tmp_path / "node.log"
    process = start_node("loop", log, f"weights:={fine_tuned}", "model_width:=128", "model_height:=64")
    client = Client("loop", outputs=("labels", "color"))
    try:
        client.wait_connected()
        scene = street_scene(128, 64, seed=11).image
        done = client.publish_until(lambda: bool(client.received["labels"]) and bool(client.received["color"]), 60,
                                    "rgb8", scene, 5_000)  # fmt: skip
        assert done, log.read_text()
    finally:
        client.node.destroy_node()
        assert stop_node(process) == 0, log.read_text()
    labels = next(m for m in client.received["labels"] if stamp_ns(m) == 5_000)
    colour = next(m for m in client.received["color"] if stamp_ns(m) == 5_000)
    ids = np.frombuffer(bytes(labels.data), np.uint8)
    assert set(np.unique(ids).tolist()) <= {0, 1, 2, 3, road4.ignore_id} and len(np.unique(ids)) >= 2
    pixels = {tuple(c) for c in np.frombuffer(bytes(colour.data), np.uint8).reshape(-1, 3).tolist()}
    assert pixels <= {*road4.colors, road4.ignore_color}, pixels - set(road4.colors)
    assert "Traceback" not in log.read_text()
