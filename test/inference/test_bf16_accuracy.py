"""bf16 on the CPU against fp32: the packaged weights on the held-out synthetic set (issue 18).

``synth --seed 2`` frames at the weights' own size, never used in training
or selection. bf16 keeps an 8-bit mantissa, so labels may flip where two
classes score almost alike; on these frames the mIoU must stay within 0.5
points of fp32's and at least 99% of the pixels must keep their label. The
measured figures are in ``benchmarks/README.md``. Runs only where the CPU has
native bf16: elsewhere the engine refuses bf16 (tested in ``test_device.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from lednet_ros.cpu import cpu_info
from lednet_ros.data.generate import frame_seed
from lednet_ros.data.synthetic import street_scene
from lednet_ros.evaluation.metrics import ConfusionMatrix
from lednet_ros.inference.backends import available_backends
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.checkpoint import load_weights

HELD_OUT_SEED = 2
FRAMES = 200


@pytest.fixture(scope="module")
def held_out() -> list:
    if not cpu_info().native_bf16:
        pytest.skip(f"{cpu_info().model or 'this CPU'} has no native bf16 (avx512_bf16 or amx_bf16)")
    weights = load_weights(None)
    size = weights.meta.train_size
    return [street_scene(*size, seed=frame_seed(HELD_OUT_SEED, i)) for i in range(FRAMES)]


@pytest.mark.parametrize("backend", ["openvino", "torch"])
def test_bf16_keeps_the_fp32_accuracy_on_the_held_out_set(backend: str, held_out: list, tmp_path, monkeypatch) -> None:
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed here")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    engines = {p: SegmentationEngine(device="cpu", precision=p, backend=backend) for p in ("fp32", "bf16")}
    assert engines["bf16"].precision_name == "bf16"
    matrices = {p: ConfusionMatrix(19) for p in engines}
    agreement = []
    for frame in held_out:
        labels = {p: e.infer(frame.image, confidence=False).labels for p, e in engines.items()}
        for p, matrix in matrices.items():
            matrix.update(frame.labels, labels[p])
        agreement.append(float(np.mean(labels["bf16"] == labels["fp32"])))
    assert engines["bf16"].running_precision == "bf16", "read back from the backend after running"
    fp32, bf16 = (100 * matrices[p].scores().miou for p in ("fp32", "bf16"))
    mean_agreement = 100 * float(np.mean(agreement))
    print(f"{backend}: mIoU fp32 {fp32:.2f}%, bf16 {bf16:.2f}%; labels agree on {mean_agreement:.2f}% "
          f"(worst frame {100 * min(agreement):.2f}%)")  # fmt: skip
    assert abs(bf16 - fp32) <= 0.5
    assert mean_agreement >= 99.0
