"""The one door from ``serve/`` to the backend registry (:mod:`googlenet.deploy.backends`).

The server runs what ``googlenet eval`` and ``predict`` run: normalized crops (N, C, s, s) float32 -> logits
(N, classes), built by :meth:`~googlenet.evaluation.ensemble.Member.runner` from any registered name on the CPU
(``auto`` measured and cached, ``openvino*`` and ``int8`` calibrated on real photos from ``--data-dir``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from ..deploy.backends import check_backend


def check(name: str) -> str:
    """``name`` if it is a backend, else the registry's one-line UserError naming the choices."""
    return check_backend(name)


def build(member: Any, kind: str, *, threads: int | None = None,
          data_dir: str | Path | None = None) -> tuple[Callable[[Tensor], Tensor], str]:
    """The backend that runs ``member`` (an :class:`~googlenet.evaluation.ensemble.Member`) at its crop size on
    the CPU with ``threads`` intra-op threads, and its concrete name (``auto``'s pick)."""
    check(kind)
    member.use_backend(kind, device="cpu", data_dir=data_dir, threads=threads)
    backend = member.runner(member.crop_size)
    return backend, member.backend
