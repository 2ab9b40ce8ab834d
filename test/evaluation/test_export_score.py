"""``lednet-ros export`` files reproduce PyTorch; ``lednet-ros score`` agrees with the metrics by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from conftest import randomized_checkpoint

from lednet_ros.data.datasets import find_samples, read_label
from lednet_ros.data.generate import generate_dataset as synth
from lednet_ros.data.image_files import read_rgb
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.evaluation.score import score_split as score
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import load_checkpoint, save_checkpoint
from lednet_ros.model.network import fold_batchnorm


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = randomized_checkpoint(4)
    return save_checkpoint(tmp_path_factory.mktemp("w") / "w.pt", checkpoint.build_model(), checkpoint.meta)


def test_export_writes_verified_torchscript_and_onnx(tmp_path: Path, weights: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lednet_ros", "export", "--weights", str(weights), "--size", "64x32", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "export.json").read_text())
    assert record["size"] == [64, 32]
    for kind in ("torchscript", "onnx"):
        assert record["files"][kind]["max_abs_difference"] < 1e-3, kind
    # Independently: run both files and compare with the folded network.
    model = fold_batchnorm(load_checkpoint(weights).build_model())
    x = torch.rand(1, 3, 32, 64)
    with torch.no_grad():
        expected = model(x).numpy()
    scripted = torch.jit.load(record["files"]["torchscript"]["file"])
    with torch.no_grad():
        assert np.abs(scripted(x).numpy() - expected).max() < 1e-3
    session = onnxruntime.InferenceSession(record["files"]["onnx"]["file"], providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"image": x.numpy()})
    assert logits.shape == (1, 19, 32, 64)
    assert np.abs(logits - expected).max() < 1e-3


def test_score_equals_a_confusion_matrix_built_from_engine_outputs(tmp_path: Path, weights: Path) -> None:
    synth(tmp_path, 3, seed=9, size=(96, 48), split="test", progress=False)
    engine = SegmentationEngine(weights, device="cpu", model_size=(96, 48))
    scores = score(engine, tmp_path, "test", progress=False)
    matrix = ConfusionMatrix(19)
    for sample in find_samples(tmp_path, "test"):
        matrix.update(read_label(sample, engine.classes), engine.infer(read_rgb(sample.image)).labels)
    expected = matrix.scores()
    assert np.allclose(scores.per_class_iou, expected.per_class_iou, rtol=0, atol=0, equal_nan=True)
    assert (scores.miou, scores.pixels) == (expected.miou, expected.pixels)
    assert scores.pixels == 3 * 96 * 48


def test_engine_defaults_to_the_weights_training_size(weights: Path) -> None:
    checkpoint = randomized_checkpoint(1)
    sized = replace(checkpoint, meta=replace(checkpoint.meta, train_size=(320, 160)))
    assert SegmentationEngine(sized, device="cpu").model_size == (320, 160)
    assert SegmentationEngine(checkpoint, device="cpu").model_size == (1024, 512)
    assert SegmentationEngine(sized, device="cpu", model_size=(64, 32)).model_size == (64, 32)
