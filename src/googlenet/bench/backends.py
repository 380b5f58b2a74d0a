"""The inference backends the bench times: our fused model in eager/channels_last/compiled form, ONNX
Runtime fp32 and int8, and torchvision's model as the anchors."""



from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..deploy.ort import ort_session
from ..errors import UserError
from .timing import Run

BACKENDS = ("tv-eager", "tv-ort", "eager", "channels-last", "compile", "ort", "ort-folded", "int8")
ANCHORS = ("tv-eager", "tv-ort")


@dataclass
class Prepared:
    """A built backend: ``make(x)`` returns a zero-argument callable that runs one batch ``x``."""

    name: str
    owner: str  # "ours" or "torchvision"
    make: Callable[[torch.Tensor], Run]
    to_numpy: Callable[[Any], np.ndarray] = field(default=lambda out: out.detach().numpy())


def _ort_backend(name: str, owner: str, path: Path, threads: int) -> Prepared:
    session = ort_session(path, threads)
    input_name = session.get_inputs()[0].name

    def make(x: torch.Tensor) -> Run:
        feed = {input_name: x.numpy()}
        return lambda: session.run(None, feed)[0]

    return Prepared(name, owner, make, to_numpy=lambda out: out)


def _torch_backend(name: str, owner: str, model: nn.Module, channels_last: bool) -> Prepared:
    def make(x: torch.Tensor) -> Run:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)

        def run() -> torch.Tensor:
            with torch.inference_mode():
                return model(x)

        return run

    return Prepared(name, owner, make)


def prepare_backends(
    names: Sequence[str], ours: nn.Module, tv: nn.Module, *, workdir: Path, input_size: int, threads: int,
    calibration: torch.Tensor | None = None,
) -> list[Prepared]:
    """Build the requested backends (ONNX files go to ``workdir``)."""
    from ..deploy.fusion import optimize_for_inference
    from ..deploy.onnx import export_onnx

    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        raise UserError(f"unknown backend {unknown[0]!r}; choose from {', '.join(BACKENDS)}")
    in_channels = getattr(ours, "in_channels", 3)
    fused = None
    if any(n in names for n in ("eager", "ort", "int8")):
        fused = optimize_for_inference(ours)
    fused_cl = None
    if any(n in names for n in ("channels-last", "compile")):
        fused_cl = optimize_for_inference(ours, memory_format=torch.channels_last)
    out: list[Prepared] = []
    for name in names:
        if name == "tv-eager":
            out.append(_torch_backend(name, "torchvision", tv, channels_last=False))
        elif name == "tv-ort":
            path = workdir / "torchvision.onnx"
            if not path.exists():
                export_onnx(tv, path, input_size=input_size, in_channels=in_channels)
            out.append(_ort_backend(name, "torchvision", path, threads))
        elif name == "eager":
            out.append(_torch_backend(name, "ours", fused, channels_last=False))
        elif name == "channels-last":
            out.append(_torch_backend(name, "ours", fused_cl, channels_last=True))
        elif name == "compile":
            compiled = torch.compile(fused_cl, dynamic=False)
            out.append(_torch_backend(name, "ours", compiled, channels_last=True))
        elif name in ("ort", "int8"):
            path = workdir / "ours_fused.onnx"
            if not path.exists():
                export_onnx(fused, path, input_size=input_size, in_channels=in_channels)
            if name == "int8":
                from ..deploy.quantize import quantize_onnx

                q_path = workdir / "ours_fused_int8.onnx"
                if not q_path.exists():
                    if calibration is None:
                        raise UserError("the int8 backend needs calibration images")
                    quantize_onnx(path, q_path, calibration)
                path = q_path
            out.append(_ort_backend(name, "ours", path, threads))
        elif name == "ort-folded":
            path = workdir / "ours_folded.onnx"
            if not path.exists():
                export_onnx(optimize_for_inference(ours, fuse_inception=False), path, input_size=input_size,
                            in_channels=in_channels)
            out.append(_ort_backend(name, "ours", path, threads))
    return out


