"""What the bench times: the registry's backends (:mod:`googlenet.deploy.backends`, the same objects ``eval``,
``predict`` and ``serve`` run) beside its two anchors, torchvision's model eager and ONNX Runtime on
torchvision's own ONNX export. The bench adds only these anchors and the timing (:mod:`.inference`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..deploy.backends import RENAMED, Backend, backend_names, backend_spec, build_backend
from ..errors import UserError
from .timing import Run

ANCHORS = ("tv-eager", "tv-ort")
#: Every backend ``googlenet bench`` knows: the anchors, then the registry's (``auto`` is measured by itself).
BACKENDS = ANCHORS + tuple(n for n in backend_names() if n != "auto")
#: What ``googlenet bench`` times when no ``--backend`` is given (``compile`` takes minutes to compile).
DEFAULT_BACKENDS = tuple(n for n in BACKENDS if n != "compile")


@dataclass
class Prepared:
    """A built backend: ``make(x)`` returns a zero-argument callable that runs one batch ``x``."""

    name: str
    owner: str  # "ours" or "torchvision"
    make: Callable[[torch.Tensor], Run]
    to_numpy: Callable[[Any], np.ndarray]
    precision: str = "fp32"


def check_bench_backends(names: Sequence[str]) -> None:
    for name in names:
        if name in RENAMED:
            backend_spec(name)  # the one-line message naming the new name
        if name not in BACKENDS:
            raise UserError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")


def _anchor(name: str, tv: nn.Module, workdir: Path, input_size: int, threads: int | None) -> Prepared:
    from ..deploy.backends.eager import EagerBackend
    from ..deploy.backends.ort import OrtBackend
    from ..deploy.onnx import export_onnx

    if name == "tv-eager":
        backend: Backend = EagerBackend(tv)
    else:
        path = workdir / "torchvision.onnx"
        if not path.exists():
            export_onnx(tv, path, input_size=input_size, in_channels=getattr(tv, "in_channels", 3))
        backend = OrtBackend(path, name=name, threads=threads, streams=1)  # the plain session: the anchor
    return Prepared(name, "torchvision", backend.bind, backend.to_numpy)


def prepare_backends(
    names: Sequence[str], ours: nn.Module, tv: nn.Module, *, workdir: Path, input_size: int, threads: int | None,
    calibration: torch.Tensor | None = None,
) -> list[Prepared]:
    """Build the requested backends (ONNX files go to ``workdir``, shared between the backends)."""
    check_bench_backends(names)
    out: list[Prepared] = []
    for name in names:
        if name in ANCHORS:
            out.append(_anchor(name, tv, workdir, input_size, threads))
            continue
        backend = build_backend(name, ours, crop_size=input_size, channels=getattr(ours, "in_channels", 3),
                                calibration=calibration, threads=threads, workdir=workdir)
        out.append(Prepared(name, "ours", backend.bind, backend.to_numpy, backend_spec(name).precision))
    return out
