"""CPU flags: read from /proc/cpuinfo, since precision choices depend on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lednet_ros.cpu import CpuInfo, cpu_info, parse_cpuinfo

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 sha_ni

processor\t: 1
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2
"""


def test_the_first_processor_s_model_and_flags_are_read() -> None:
    cpu = parse_cpuinfo(CPUINFO)
    assert cpu.model == "AMD EPYC 9R14 96-Core Processor"
    assert cpu.native_bf16 and cpu.reported_flags() == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]


@pytest.mark.parametrize(("flags", "native"), [("avx512_bf16", True), ("amx_bf16 amx_tile", True),
                                                ("avx512f avx512_vnni", False), ("", False)])  # fmt: skip
def test_native_bf16_needs_one_of_its_flags(flags: str, native: bool) -> None:
    assert CpuInfo("x", frozenset(flags.split())).native_bf16 is native


def test_this_machine_s_flags_are_what_the_kernel_says() -> None:
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        pytest.skip("no /proc/cpuinfo (not Linux): no flags are known, nothing is assumed")
    line = next(line for line in path.read_text().splitlines() if line.startswith("flags"))
    kernel = set(line.partition(":")[2].split())
    assert cpu_info().flags == kernel
    assert cpu_info().native_bf16 == bool(kernel & {"avx512_bf16", "amx_bf16"})
