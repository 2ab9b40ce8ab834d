"""What this CPU can do, read from the flags the kernel reports.

Whether bf16 pays off on a CPU depends on native bf16 instructions
(AVX512_BF16 or AMX: AMD Zen 4 and later, Intel Sapphire Rapids and later);
without them bf16 is emulated and slower than fp32. Development and CI
machines come in several kinds, so precision choices are made from these
flags, never assumed.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lednet_ros.errors import LednetError

__all__ = ["NATIVE_BF16_FLAGS", "REPORTED_FLAGS", "CpuInfo", "check_native_bf16", "cpu_info", "parse_cpuinfo"]

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""Any one of these means the CPU computes bf16 dot products in hardware."""

REPORTED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
"""The flags a benchmark states next to its figures, since the backends' ranking depends on them."""

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuInfo:
    """The model name and the instruction-set flags of the first CPU."""

    model: str
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """Whether bf16 runs in hardware here (see :data:`NATIVE_BF16_FLAGS`)."""
        return any(flag in self.flags for flag in NATIVE_BF16_FLAGS)

    def reported_flags(self) -> list[str]:
        """Those of :data:`REPORTED_FLAGS` this CPU has, in that order."""
        return [flag for flag in REPORTED_FLAGS if flag in self.flags]


def parse_cpuinfo(text: str) -> CpuInfo:
    """The first processor's ``model name`` and ``flags`` in a Linux ``/proc/cpuinfo`` text."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        if model and flags:
            break
    return CpuInfo(model or platform.processor() or platform.machine(), flags)


@cache
def cpu_info() -> CpuInfo:
    """The CPU of the machine this runs on; without ``/proc/cpuinfo`` (not Linux) no flags are known, so nothing is assumed."""
    try:
        return parse_cpuinfo(CPUINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return CpuInfo(platform.processor() or platform.machine(), frozenset())


def check_native_bf16(what: str, instead: str, cpu: CpuInfo | None = None) -> None:
    """Refuse ``what`` (e.g. ``precision 'bf16'``) unless the CPU has native bf16; the message suggests ``instead``.

    The one check behind every bf16 option (inference and training), so
    they refuse alike. ``cpu`` stands in for this machine's CPU (tests).

    Raises:
        LednetError: the CPU has no native bf16, or its flags could not be read.
    """
    cpu = cpu or cpu_info()
    if cpu.native_bf16:
        return
    found = f"{cpu.model or 'this CPU'} has neither" if cpu.flags else "no CPU flags could be read here"
    msg = (f"{what} needs a CPU with native bf16 ({' or '.join(NATIVE_BF16_FLAGS)}); {found}, "
           f"and emulated bf16 is slower than fp32: use {instead}")  # fmt: skip
    raise LednetError(msg)
