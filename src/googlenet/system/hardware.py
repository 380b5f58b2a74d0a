"""What this CPU can do fast: the instruction-set flags that decide which backends and precisions pay.

On x86, int8 convolutions are about twice as fast with VNNI (``vpdpbusd``) as with AVX2's
``vpmaddubsw`` + ``vpmaddwd``, and bfloat16 arithmetic is only faster than fp32 with native bf16 dot
products (AVX512_BF16 or AMX); without them autocast emulates bf16 and is slower (docs/performance.md).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

#: The flags worth reporting beside a benchmark (in this order).
REPORTED_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():  # the first processor's block ends here
                    break
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it ("unknown" where it does not)."""
    return _cpuinfo().get("model name", "unknown")


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_features() -> list[str]:
    """The :data:`REPORTED_FEATURES` this CPU has."""
    flags = cpu_flags()
    return [f for f in REPORTED_FEATURES if f in flags]


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU has VNNI int8 dot products (avx512_vnni or avx_vnni)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni"})


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX), so bf16 autocast can pay."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def total_memory_bytes() -> int | None:
    """The machine's memory (``MemTotal`` of /proc/meminfo, else the POSIX page count), None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
