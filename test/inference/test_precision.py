"""fp32 means fp32 on every CPU backend, whatever the CPU offers.

CPUs with native bf16 (AVX512_BF16, AMX) invite libraries to compute in it
by default: OpenVINO's CPU plugin does unless told otherwise. Each backend's
scores are compared here with the same network in float64; bf16 (8-bit
mantissa) is off by about 1e-2 relative, fp32 by about 1e-6, so the bound
separates them on any CPU. On a CPU without bf16 the test cannot catch a
missing hint, but it still checks the arithmetic; the OpenVINO hint itself
is read back in ``test_backends.py``.
"""

from __future__ import annotations

import pytest
import torch
from conftest import randomized_checkpoint

from lednet_ros.cpu import cpu_info
from lednet_ros.inference.backends import available_backends
from lednet_ros.inference.engine import SegmentationEngine
from lednet_ros.model.network import fold_batchnorm

RELATIVE_BOUND = 1e-3
"""Largest error allowed, relative to the scores' spread: bf16 lands near 1e-2, fp32 near 1e-6."""


@pytest.fixture(scope="module")
def checkpoint():
    return randomized_checkpoint(33)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "openvino"])
def test_fp32_scores_match_float64_on_every_backend(backend: str, checkpoint, tmp_path, monkeypatch) -> None:
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed here")
    monkeypatch.setenv("LEDNET_ROS_CACHE", str(tmp_path))
    engine = SegmentationEngine(checkpoint, device="cpu", precision="fp32", model_size=(128, 64), backend=backend)
    generator = torch.Generator().manual_seed(5)
    batch = torch.rand(2, 3, 64, 128, generator=generator)
    reference = fold_batchnorm(checkpoint.build_model()).double().eval()
    with torch.inference_mode():
        expected = reference.coarse_logits(batch.double())
        scores = engine.coarse_logits(batch).double()
    error = float((scores - expected).abs().max() / expected.std())
    flags = {"avx512_bf16", "amx_bf16"} & cpu_info().flags
    assert error < RELATIVE_BOUND, f"{backend}: relative error {error:.2e} (CPU bf16 flags: {sorted(flags) or 'none'})"
