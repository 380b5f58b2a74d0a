"""The one door from ``serve/`` to the inference backends (:mod:`googlenet.deploy.backends`).

Everything the server needs from a backend goes through :func:`check` and :func:`build`, so that when the
backends change shape (a registry of them) only this file follows. A backend here is what
``googlenet eval`` and ``predict`` run: normalized crops (N, C, s, s) float32 -> logits (N, classes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from ..deploy.backends import BACKENDS, build_backend, check_backend, resolve_backend
from ..errors import UserError

#: What ``googlenet serve --backend`` accepts (the eval backends; ``auto`` is the fastest fp32 here).
CHOICES = BACKENDS


def check(name: str) -> str:
    """``name`` if ``--backend`` accepts it, else a one-line UserError naming the choices."""
    if name not in CHOICES:
        check_backend(name)  # the library's message for an unknown name
        raise UserError(f"--backend {name!r} is not served; use one of {', '.join(CHOICES)}")
    return name


def build(member: Any, kind: str, *, threads: int | None = None,
          data_dir: str | Path | None = None) -> tuple[Callable[[Tensor], Tensor], str]:
    """The backend that runs ``member`` (an :class:`~googlenet.evaluation.ensemble.Member`) at its crop size on
    the CPU, and its concrete name (``auto`` resolved). ``int8`` calibrates on real photos from ``data_dir``
    (or ``$GOOGLENET_DATA``), as ``googlenet predict --backend int8`` does. Like predict, ``auto`` falls back
    to ``torch`` (with a note) when the ONNX export fails."""
    check(kind)
    resolved = resolve_backend(kind, "cpu", onnx_file=member.onnx_path is not None)
    calibration = None
    if resolved == "int8":
        member.calibration_dir = data_dir
        calibration = member.calibration_crops(member.crop_size)
    try:
        backend = build_backend(resolved, member.model, crop_size=member.crop_size, channels=member.channels,
                                device="cpu", onnx_path=member.onnx_path, calibration=calibration, threads=threads)
    except Exception as exc:  # noqa: BLE001 - any exporter failure; only the automatic choice falls back
        if kind != "auto" or member.model is None:
            raise
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"googlenet: note: ONNX export failed ({reason[:160]}); serving on --backend torch", file=sys.stderr)
        resolved = "torch"
        backend = build_backend("torch", member.model, crop_size=member.crop_size, channels=member.channels)
    return backend, resolved
