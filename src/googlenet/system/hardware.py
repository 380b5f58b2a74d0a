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


def cpu_clock_hz() -> float | None:
    """The clock /proc/cpuinfo reports for the first core ("cpu MHz"), None where it reports none."""
    try:
        return float(_cpuinfo()["cpu MHz"]) * 1e6
    except (KeyError, ValueError):
        return None


def peak_macs_per_s(precision: str = "fp32") -> tuple[float | None, str]:
    """The CPU's peak multiply-adds per second in ``precision`` (fp32, bf16, int8), and how it was computed.

    cores x clock x multiply-adds per cycle per core. Per cycle: two FMA pipes (every x86 server core since
    Haswell / Zen 2) of 512 bits where the core executes AVX-512 at full width (Intel server cores; AMD from
    Zen 5, cpu family 26) and 256 bits otherwise (Zen 4 splits a 512-bit operation in two), i.e. 2 x width / 32
    fp32 lanes; bf16 dot products (VDPBF16PS, AVX512_BF16) do 2 multiply-adds per fp32 lane, int8 VNNI
    (VPDPBUSD) 4. The clock is the one /proc/cpuinfo reports, not a boost clock: a guide, not a bound."""
    flags, info = cpu_flags(), _cpuinfo()
    clock, cores = cpu_clock_hz(), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if clock is None or not cores or "avx2" not in flags:
        return None, "peak unknown (no clock in /proc/cpuinfo, or not an x86 CPU with AVX2)"
    amd = "AMD" in info.get("vendor_id", "") or "AMD" in info.get("model name", "")
    full_512 = "avx512f" in flags and (not amd or int(info.get("cpu family", "0") or 0) >= 26)
    width = 512 if full_512 else 256
    per_lane = {"fp32": 1, "bf16": 2 if "avx512_bf16" in flags else 1,
                "int8": 4 if ({"avx512_vnni", "avx_vnni"} & flags) else 2}[precision]
    per_cycle = 2 * (width // 32) * per_lane
    how = (f"{cores} cores x {clock / 1e9:.2f} GHz x {per_cycle} {precision} multiply-adds/cycle "
           f"(2 FMA pipes x {width // 32} fp32 lanes of {width} bits x {per_lane} per lane)")
    return cores * clock * per_cycle, how
