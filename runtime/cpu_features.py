"""What this CPU can do for INT8, read once from the OS (Linux ``/proc/cpuinfo``)."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# x86 instructions that multiply int8 and accumulate in 32 bits (AVX-VNNI, AVX-512 VNNI, AMX).
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:  # no /proc (not Linux): unknown, which int8_dot_product counts as capable
        return frozenset()
    return frozenset()


def int8_dot_product() -> bool:
    """Whether int8 GEMM kernels accumulate exactly and fast here. x86 CPUs without VNNI or AMX
    (e.g. AMD Zen 2/3, Intel before Cascade Lake) multiply u8 x s8 pairs into saturating 16-bit
    sums: OpenVINO's int8 is slower than its fp32 there and loses accuracy. Other architectures, and
    x86 hosts whose flags cannot be read, count as capable (nothing is refused on a guess)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    flags = cpu_flags()
    return not flags or any(f in flags for f in INT8_DOT_FLAGS)
