"""Device and precision names, and the torch switches that go with them."""

from __future__ import annotations

import pytest
import torch

from lednet_ros.errors import LednetError
from lednet_ros.inference.device import configure_torch, precision_name, resolve_device, resolve_precision


def test_device_and_precision_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    assert resolve_precision("fp16", torch.device("cuda", 0)) == torch.float16
    with pytest.raises(LednetError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(LednetError, match="fp16' needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(LednetError, match="unknown precision"):
        resolve_precision("int8", torch.device("cpu"))


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
    assert (precision_name(torch.float16), precision_name(torch.float32)) == ("fp16", "fp32")
