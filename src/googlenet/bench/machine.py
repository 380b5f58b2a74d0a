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


def peak_macs_per_s(precision: str) -> float | None:
    """The CPU's peak multiply-adds per second at ``precision`` (system/hardware.peak_macs_per_s says how it is
    computed: cores x clock x multiply-adds per cycle), None where it cannot tell."""
    from ..system.hardware import peak_macs_per_s as peak

    return peak(precision)[0]
