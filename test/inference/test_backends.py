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

from lednet_ros.cpu import cpu_info
from lednet_ros.data.synthetic import street_scene
from lednet_ros.errors import LednetError
from lednet_ros.inference import backends
from lednet_ros.inference.backends import available_backends, resolve_backend, weights_digest
from lednet_ros.inference.engine import SegmentationEngine

ONNX_BACKENDS = ["onnxruntime", "openvino"]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def checkpoint():
    return randomized_checkpoint(21)


def network_graphs(folder: Path) -> list[Path]:
    """The cached network graphs in ``folder``, not the head graphs beside them."""
    return sorted(p for p in folder.glob("lednet_*.onnx") if not p.name.startswith("lednet_head_"))


def installed(name: str) -> None:
    if name not in available_backends():
        pytest.skip(f"{name} is not installed here (pip install {name})")


@pytest.mark.parametrize("backend", ONNX_BACKENDS)
def test_backend_labels_agree_with_the_pytorch_engine(backend: str, checkpoint, tmp_path, monkeypatch) -> None:
    installed(backend)
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    reference = SegmentationEngine(checkpoint, device="cpu", model_size=(128, 64), backend="torch", precision="fp32")
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(128, 64), backend=backend, precision="fp32")
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
    graphs = [p.name for p in network_graphs(tmp_path)]
    digest = weights_digest(engine.model)[:16]
    assert graphs == [f"lednet_{digest}_1x3x64x128_opset17_v4.onnx", f"lednet_{digest}_3x3x64x128_opset17_v4.onnx"]
    heads = sorted(p.name for p in tmp_path.glob("lednet_head_*.onnx"))
    if "onnxruntime" in available_backends():  # upsampling and argmax in ONNX Runtime: one graph per output size
        sizes = [(160, 320), (480, 640), (64, 128)]
        assert set(heads) == {f"lednet_head_1x19x8x16_to_{h}x{w}_conf_opset17_v4.onnx" for h, w in sizes}
    else:
        assert heads == []


@pytest.mark.parametrize("size", [(37, 53), (64, 128), (480, 640)])
@pytest.mark.parametrize("confidence", [True, False])
def test_onnxruntime_head_classifies_like_pytorch(
    size: tuple[int, int], confidence: bool, tmp_path, monkeypatch
) -> None:
    """Upsampling (any factor), argmax and confidence in ONNX Runtime against the engine's PyTorch steps."""
    installed("onnxruntime")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    rng = np.random.default_rng(size[0] + confidence)
    coarse = torch.from_numpy(rng.normal(0.0, 3.0, (1, 19, 8, 16)).astype(np.float32))
    logits = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=True)
    best, expected = logits.max(dim=1)
    head = backends.make_head_runner((1, 19, 8, 16), size, confidence)
    channel, conf = head(coarse.numpy())
    assert channel.shape == size and channel.dtype == np.int64
    assert float(np.mean(channel == expected[0].numpy())) >= 0.999
    if confidence:
        reference = (255.0 / torch.exp(logits - best.unsqueeze(1)).sum(dim=1)).round()[0].numpy()
        assert conf is not None and conf.dtype == np.uint8 and conf.shape == size
        assert np.abs(conf.astype(int) - reference.astype(int)).max() <= 1
        assert float(np.mean(conf == reference)) >= 0.999  # rounded, not truncated
    else:
        assert conf is None


def test_exported_graphs_are_reused_from_the_cache(checkpoint, tmp_path, monkeypatch) -> None:
    installed("onnxruntime")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    image = street_scene(96, 48, seed=3).image
    SegmentationEngine(checkpoint, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    (graph,) = network_graphs(tmp_path)
    graph.write_bytes(b"not an onnx graph")  # the next engine must read this file, not export again
    with pytest.raises(LednetError, match=r"cannot load .*delete the file to re-export"):
        SegmentationEngine(checkpoint, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    graph.unlink()
    other = randomized_checkpoint(22)
    SegmentationEngine(other, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    SegmentationEngine(checkpoint, device="cpu", model_size=(96, 48), backend="onnxruntime").infer(image)
    assert len(network_graphs(tmp_path)) == 2  # other weights, other key
    assert len(list(tmp_path.glob("lednet_head_*.onnx"))) == 1  # the head has no weights: one for both


def test_an_unwritable_cache_falls_back_to_a_temporary_folder(checkpoint, tmp_path, monkeypatch) -> None:
    installed("onnxruntime")
    blocker = tmp_path / "a_file"
    blocker.write_text("the cache path is a file")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(blocker / "cache"))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="onnxruntime", precision="fp32")
    reference = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="torch", precision="fp32")
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
    """The flag's choices come from the engine's list, which names exactly the runners the engine has."""
    import argparse

    from lednet_ros.commands.args import add_engine_arguments

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    (action,) = [a for a in parser._actions if a.dest == "backend"]
    assert tuple(action.choices) == ("auto", *backends.BACKENDS)
    assert set(backends.BACKENDS) == {"torch", *ONNX_BACKENDS}
    for name in available_backends():
        assert resolve_backend(name, CPU) == name


def test_warm_up_builds_both_heads_so_the_first_frame_exports_nothing(checkpoint, tmp_path, monkeypatch) -> None:
    installed("onnxruntime")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="onnxruntime")
    engine.warm_up([(80, 60)])
    built = sorted(p.name for p in tmp_path.glob("*.onnx"))
    assert sorted(p.name for p in tmp_path.glob("lednet_head_*.onnx")) == [
        "lednet_head_1x19x4x8_to_60x80_conf_opset17_v4.onnx",
        "lednet_head_1x19x4x8_to_60x80_labels_opset17_v4.onnx",
    ]
    image = street_scene(80, 60, seed=8).image
    engine.infer(image, confidence=True)
    engine.infer(image, confidence=False)
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == built


def test_sessions_are_bounded_when_the_camera_keeps_changing_resolution(checkpoint, tmp_path, monkeypatch) -> None:
    """Each new output size builds a head session; only the most recent MAX_BACKEND_SESSIONS stay alive."""
    installed("onnxruntime")
    from lednet_ros.inference.engine import MAX_BACKEND_SESSIONS

    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="onnxruntime", precision="fp32")
    reference = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="torch", precision="fp32")
    sizes = [(64 + 8 * i, 32 + 4 * i) for i in range(MAX_BACKEND_SESSIONS + 3)]
    for width, height in [*sizes, sizes[0]]:  # the first size again, after its session was dropped
        image = street_scene(width, height, seed=width).image
        agreement = float(np.mean(engine.infer(image).labels == reference.infer(image).labels))
        assert agreement >= 0.999, (width, height, agreement)
    assert len(engine._heads) == MAX_BACKEND_SESSIONS  # private on purpose: the bound is the point
    assert len(engine._runners) == 1  # one model size: one network session


def test_openvino_runs_fp32_when_fp32_is_asked_for(checkpoint, tmp_path, monkeypatch) -> None:
    """On a CPU with native bf16 OpenVINO defaults to bf16; the runner must ask for f32 explicitly."""
    installed("openvino")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend="openvino", precision="fp32")
    engine.infer(street_scene(64, 32, seed=3).image)
    (runner,) = engine._runners.values()
    hint = runner._compiled.get_property("INFERENCE_PRECISION_HINT")
    assert str(hint).lower() in {"f32", "<type: 'float32'>"}, hint
    assert runner.precision == engine.running_precision == "fp32"


def test_bf16_is_what_openvino_and_torch_report_where_the_cpu_has_it(checkpoint, tmp_path, monkeypatch) -> None:
    """Read back from the compiled model (OpenVINO) and the network's tensors (PyTorch), not from the request."""
    if not cpu_info().native_bf16:
        pytest.skip(f"{cpu_info().model} has no native bf16 (avx512_bf16 or amx_bf16)")
    installed("openvino")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    image = street_scene(64, 32, seed=3).image
    for backend in ("openvino", "torch"):
        engine = SegmentationEngine(checkpoint, device="cpu", model_size=(64, 32), backend=backend)
        assert engine.precision_name == "bf16", "auto is bf16 on this CPU"
        engine.infer(image)
        assert engine.running_precision == "bf16"
