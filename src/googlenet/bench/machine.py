"""The machine a figure came from: CPU name and features, threads, library versions, load."""


from __future__ import annotations

import os
import sys
from typing import Any

import torch


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux
        return []


def machine() -> dict[str, Any]:
    from ..system.hardware import cpu_features, cpu_name

    # cpu_features: what decides which backends pay (8-bit dot products for int8, native bf16 for bf16).
    return {"cpu": cpu_name(), "cpu_features": cpu_features(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "onnxruntime": _version("onnxruntime"), "torchvision": _version("torchvision"),
            "python": sys.version.split()[0]}


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001
        return "-"


def clock_ghz() -> float | None:
    """The clock /proc/cpuinfo reports (``cpu MHz``; on a VM the host's nominal clock), in GHz."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except (OSError, ValueError):
        pass
    return None


def macs_per_cycle(precision: str) -> int:
    """Multiply-adds one core can issue per cycle at ``precision``, from the ISA this CPU has: two 512-bit FMA
    pipes with AVX-512 (16 fp32 lanes each; 8 with AVX2 only), bf16 dot products (``vdpbf16ps``, 2 per lane)
    with AVX512_BF16, 8-bit dot products (``vpdpbusd``, 4 per lane) with VNNI, else ``vpmaddubsw`` (2 per lane).
    An upper bound: cores that split 512-bit operations into two 256-bit halves (Zen 4) reach half of it."""
    from ..system.hardware import cpu_flags, cpu_has_native_bf16, cpu_has_vnni

    fp32 = 2 * (16 if "avx512f" in cpu_flags() else 8)
    if precision == "bf16":
        return 2 * fp32 if cpu_has_native_bf16() else fp32
    if precision == "int8":
        return (4 if cpu_has_vnni() else 2) * fp32
    return fp32


def peak_macs_per_s(precision: str) -> float | None:
    """cores x clock x :func:`macs_per_cycle`: the CPU's peak multiply-adds per second at ``precision``."""
    ghz = clock_ghz()
    return None if ghz is None else (os.cpu_count() or 1) * ghz * 1e9 * macs_per_cycle(precision)
