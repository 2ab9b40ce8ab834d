"""Device and precision names, and the torch switches that go with them."""

from __future__ import annotations

import pytest
import torch

from lednet_ros.cpu import CpuInfo
from lednet_ros.errors import LednetError
from lednet_ros.inference.backends import available_backends, resolve_backend
from lednet_ros.inference.device import configure_torch, pipeline_dtype, resolve_device, resolve_precision

ZEN4 = CpuInfo("AMD EPYC 9R14", frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}))
ICE_LAKE = CpuInfo("Intel Xeon Platinum 8375C", frozenset({"avx2", "avx512f", "avx512_vnni"}))
CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def test_device_and_precision_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_precision("auto", CPU, cpu=ICE_LAKE) == "fp32"
    assert resolve_precision("auto", CUDA) == "fp16" and resolve_precision("fp16", CUDA) == "fp16"
    with pytest.raises(LednetError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(LednetError, match="fp16' needs a CUDA device"):
        resolve_precision("fp16", CPU)
    with pytest.raises(LednetError, match="unknown precision"):
        resolve_precision("int8", CPU)


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_auto_is_bf16_only_where_the_cpu_has_it_and_the_backend_runs_it(backend: str) -> None:
    assert resolve_precision("auto", CPU, backend, cpu=ZEN4) == "bf16"
    assert resolve_precision("auto", CPU, backend, cpu=ICE_LAKE) == "fp32"
    assert resolve_precision("auto", CPU, "onnxruntime", cpu=ZEN4) == "fp32", "ONNX Runtime has no bf16 convolutions"
    assert resolve_precision("bf16", CPU, backend, cpu=ZEN4) == "bf16"
    assert resolve_precision("fp32", CPU, backend, cpu=ZEN4) == "fp32", "an explicit fp32 stays fp32"


def test_bf16_is_refused_where_it_would_be_emulated_or_not_run() -> None:
    with pytest.raises(LednetError, match=r"needs a CPU with native bf16 \(avx512_bf16 or amx_bf16\); Intel Xeon"):
        resolve_precision("bf16", CPU, "openvino", cpu=ICE_LAKE)
    with pytest.raises(LednetError, match="backend 'onnxruntime' has no bf16"):
        resolve_precision("bf16", CPU, "onnxruntime", cpu=ZEN4)
    with pytest.raises(LednetError, match="'bf16' is for the CPU"):
        resolve_precision("bf16", CUDA, "torch", cpu=ZEN4)


def test_auto_backend_follows_the_precision() -> None:
    installed = available_backends()
    fp32_first = next(b for b in ("onnxruntime", "openvino", "torch") if b in installed)
    assert resolve_backend("auto", CPU, "fp32", cpu=ZEN4) == fp32_first
    assert resolve_backend("auto", CPU, "auto", cpu=ICE_LAKE) == fp32_first
    bf16_first = "openvino" if "openvino" in installed else "torch"
    assert resolve_backend("auto", CPU, "bf16", cpu=ZEN4) == bf16_first
    # auto precision goes bf16 only with OpenVINO: PyTorch's bf16 is no faster than ONNX Runtime's fp32
    assert resolve_backend("auto", CPU, "auto", cpu=ZEN4) == ("openvino" if "openvino" in installed else fp32_first)
    assert resolve_backend("auto", CUDA, "auto", cpu=ZEN4) == "torch"


def test_the_network_input_is_float32_for_the_onnx_backends() -> None:
    assert pipeline_dtype("bf16", "torch") == torch.bfloat16 and pipeline_dtype("fp16", "torch") == torch.float16
    assert pipeline_dtype("bf16", "openvino") == torch.float32 and pipeline_dtype("fp32", "torch") == torch.float32


def test_fp32_on_cuda_turns_tf32_off_and_the_cpu_changes_nothing() -> None:
    """The switches are process-wide, so the test puts them back; setting them needs no GPU."""
    switches = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
                torch.backends.cuda.matmul.allow_tf32)  # fmt: skip
    try:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        configure_torch(torch.device("cpu"), torch.float32)
        assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == (False, True)
        configure_torch(torch.device("cuda", 0), torch.float16)
        assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == (True, True)
        configure_torch(torch.device("cuda", 0), torch.float32)
        assert not torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = switches  # fmt: skip
