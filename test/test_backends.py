"""The engine's network backends: PyTorch, ONNX Runtime, OpenVINO.

Every installed ONNX backend must label like the PyTorch engine (>= 99.9% of
pixels, the issue's bar), for single images and batches; exported graphs are
cached per weights and shape; broken set-ups are clear errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import randomized_checkpoint

from lednet_ros import backends
from lednet_ros.backends import available_backends, resolve_backend, weights_digest
from lednet_ros.engine import SegmentationEngine
from lednet_ros.errors import LednetError
from lednet_ros.synthetic import street_scene

ONNX_BACKENDS = ["onnxruntime", "openvino"]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def checkpoint():
    return randomized_checkpoint(21)


def installed(name: str) -> None:
    if name not in available_backends():
        pytest.skip(f"{name} is not installed here (pip install {name})")


@pytest.mark.parametrize("backend", ONNX_BACKENDS)
def test_backend_labels_agree_with_the_pytorch_engine(backend: str, checkpoint, tmp_path, monkeypatch) -> None:
    installed(backend)
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    reference = SegmentationEngine(checkpoint, device="cpu", model_size=(128, 64), backend="torch")
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(128, 64), backend=backend)
    assert engine.backend == backend
    images = [street_scene(*size, seed=40 + i).image for i, size in enumerate([(320, 160), (640, 480), (128, 64)])]
    single = [engine.infer(image) for image in images]
    batch = engine.infer_batch(images)
    for image, one, batched in zip(images, single, batch, strict=True):
        expected = reference.infer(image)
        agreement = float(np.mean(one.labels == expected.labels))
        assert agreement >= 0.999, agreement
        assert np.array_equal(one.labels, batched.labels)
        assert len(np.unique(expected.labels)) > 3  # the comparison is not trivially one class everywhere
        assert one.confidence is not None and expected.confidence is not None
        assert np.abs(one.confidence.astype(int) - expected.confidence.astype(int)).max() <= 2
    graphs = sorted(p.name for p in tmp_path.glob("*.onnx"))
    digest = weights_digest(engine.model)[:16]
    assert graphs == [f"lednet_{digest}_1x3x64x128_opset17.onnx", f"lednet_{digest}_3x3x64x128_opset17.onnx"]


def test_exported_graphs_are_reused_from_the_cache(checkpoint, tmp_path, monkeypatch) -> None:
    installed("onnxruntime")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    image = street_scene(96, 48, seed=3).image
    SegmentationEngine(checkpoint, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    (graph,) = tmp_path.glob("*.onnx")
    graph.write_bytes(b"not an onnx graph")  # the next engine must read this file, not export again
    with pytest.raises(LednetError, match=r"cannot load .*delete the file to re-export"):
        SegmentationEngine(checkpoint, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    graph.unlink()
    other = randomized_checkpoint(22)
    SegmentationEngine(other, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    SegmentationEngine(checkpoint, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    assert len(list(tmp_path.glob("*.onnx"))) == 2  # other weights, other key


def test_an_unwritable_cache_falls_back_to_a_temporary_folder(checkpoint, tmp_path, monkeypatch) -> None:
    installed("onnxruntime")
    blocker = tmp_path / "a_file"
    blocker.write_text("the cache path is a file")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(blocker / "cache"))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="onnxruntime")
    reference = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="torch")
    image = street_scene(64, 32, seed=5).image
    assert np.mean(engine.infer(image).labels == reference.infer(image).labels) >= 0.999


def test_backend_names_are_resolved_or_refused(monkeypatch) -> None:
    with pytest.raises(LednetError, match="unknown backend 'tensorflow'"):
        resolve_backend("tensorflow", CPU)
    assert resolve_backend("torch", CPU) == "torch"
    assert resolve_backend("auto", torch.device("cuda", 0)) == "torch"
    monkeypatch.setattr(backends, "available_backends", lambda: ["torch"])
    assert resolve_backend("auto", CPU) == "torch"
    with pytest.raises(LednetError, match="backend 'openvino' is not installed"):
        resolve_backend("openvino", CPU)
    monkeypatch.setattr(backends, "available_backends", lambda: ["torch", "onnxruntime", "openvino"])
    assert resolve_backend("auto", CPU) == backends.CPU_PREFERENCE[0]
    with pytest.raises(LednetError, match="runs on the CPU here"):
        resolve_backend("onnxruntime", torch.device("cuda", 0))


def test_weights_digest_changes_with_any_tensor(checkpoint) -> None:
    model = checkpoint.build_model()
    before = weights_digest(model)
    with torch.no_grad():
        next(iter(model.parameters())).view(-1)[0] += 1e-6
    assert weights_digest(model) != before


def test_cli_rejects_an_unknown_backend(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "lednet_ros", "demo", "--backend", "tvm", "--out", str(tmp_path)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 2 and "invalid choice: 'tvm'" in result.stderr


def test_the_command_line_offers_exactly_the_engine_backends() -> None:
    """cli.py keeps its own list (it must not import torch for --help); it must match backends.BACKENDS."""
    import argparse

    from lednet_ros.cli import add_engine_arguments

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    (action,) = [a for a in parser._actions if a.dest == "backend"]
    assert tuple(action.choices) == ("auto", *backends.BACKENDS)
