"""``openvino``, ``openvino-bf16``, ``openvino-int8``: OpenVINO's CPU plugin on the BN-folded ONNX export.

Three names rather than a ``--precision`` flag: each is one backend with one meaning in every command, and
``googlenet bench`` interleaves any list of them. ``openvino-bf16`` asks the plugin to compute in bfloat16
(``INFERENCE_PRECISION_HINT``), which pays only with native bf16 dot products (AVX512_BF16 or AMX,
:func:`~googlenet.system.hardware.cpu_has_native_bf16`); elsewhere it refuses with one line. ``openvino-int8``
is NNCF's post-training quantization (``nncf.quantize``, the performance preset: symmetric int8) calibrated on
real photos.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...errors import UserError
from . import register_backend
from .base import Backend, BackendContext

INSTALL = "pip install openvino nncf (or googlenet[openvino])"
OPENVINO = dict(engine="openvino", cpu_only=True, requires="openvino", install=INSTALL, reads_onnx=True)
HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
#: How OpenVINO's messages name an operation it cannot convert or run.
_OP = re.compile(r"(?:operations?|[Oo]p(?:eration)?(?: type)?|layer type|node type)[:\s]+['\"]?([\w.:/-]+)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:240] or type(exc).__name__


def openvino_failure(exc: BaseException, what: str) -> UserError:
    """OpenVINO's multi-line failure as one line, naming the operation when the message names one."""
    text = str(exc)
    op = next((m.group(1) for m in _OP.finditer(text) if m.group(1).lower() not in ("the", "a", "is")), None)
    if op:
        return UserError(f"OpenVINO cannot {what}: it has no implementation of the operation {op!r}; run this "
                         "model with --backend ort or torch")
    return UserError(f"OpenVINO cannot {what} ({_one_line(exc)}); run this model with --backend ort or torch")


class OpenVinoBackend(Backend):
    """A compiled OpenVINO model and one infer request (calls come from one thread at a time)."""

    def __init__(self, model: Any, *, name: str, precision: str, threads: int, crop_size: int) -> None:
        import openvino as ov

        config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "PERFORMANCE_HINT": "LATENCY",
                  "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(threads)}
        try:
            self.compiled = ov.Core().compile_model(model, "CPU", config)
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses with long texts
            raise openvino_failure(exc, f"compile the model for {name}") from None
        self.request = self.compiled.create_infer_request()
        self.name, self.precision, self.crop_size = name, precision, crop_size

    def _input(self, images: Tensor) -> np.ndarray:
        if images.shape[-1] != self.crop_size:
            raise UserError(f"--backend {self.name} was built for {self.crop_size}-px crops, got "
                            f"{images.shape[-1]}; drop --crop-size")
        return np.ascontiguousarray(images.detach().cpu().float().numpy())

    def __call__(self, images: Tensor) -> Tensor:
        # share_inputs: the request reads the array in place rather than copying a crop batch first (the call is
        # synchronous, so the array outlives it), as the bench's bound call does.
        self.request.infer({0: self._input(images)}, share_inputs=True)
        # The request reuses its output buffer on the next call: copy it out.
        return torch.from_numpy(np.array(self.request.get_output_tensor(0).data, copy=True))

    def bind(self, images: Tensor):
        x = self._input(images)

        def run() -> np.ndarray:
            self.request.infer({0: x}, share_inputs=True)
            return self.request.get_output_tensor(0).data

        return run

    def to_numpy(self, out: Any) -> np.ndarray:
        return np.array(out, copy=True)


def read_model(path: Path) -> Any:
    """The ONNX file as an OpenVINO model (one line on an op OpenVINO lacks, or a missing OpenVINO)."""
    try:
        import openvino as ov
    except ImportError:
        raise UserError(f"OpenVINO is not installed; {INSTALL}, or pass --backend ort") from None
    try:
        return ov.Core().read_model(str(path))
    except Exception as exc:  # noqa: BLE001 - OpenVINO's frontend errors are RuntimeErrors with long texts
        raise openvino_failure(exc, f"read {path.name}") from None


def quantize(model: Any, calibration: Tensor) -> Any:
    """NNCF post-training quantization of ``model`` on the calibration crops (one image per statistics step)."""
    import contextlib
    import logging
    import sys

    # NNCF imports torch's cpp_extension (a CUDA warning) and draws progress bars on stdout, which --json owns.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    try:
        import nncf
    except ImportError:
        raise UserError(f"--backend openvino-int8 needs NNCF; {INSTALL}") from None
    nncf.set_log_level(logging.ERROR)
    data = calibration.numpy()
    dataset = nncf.Dataset([data[i:i + 1] for i in range(len(data))])
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return nncf.quantize(model, dataset, preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(data))
    except Exception as exc:  # noqa: BLE001 - NNCF's failures are deep; one line for the user
        raise openvino_failure(exc, "quantize the model with NNCF") from None


def _build(ctx: BackendContext, precision: str) -> Backend:
    name = "openvino" if precision == "fp32" else f"openvino-{precision}"
    if precision == "bf16":
        from ...system.hardware import cpu_has_native_bf16, cpu_name

        if not cpu_has_native_bf16():
            raise UserError(f"--backend openvino-bf16 needs native bf16 dot products (AVX512_BF16 or AMX), which "
                            f"{cpu_name()} lacks: bf16 would be emulated and slower than fp32; pass --backend openvino")
    model = read_model(ctx.onnx())
    if precision == "int8":
        model = quantize(model, ctx.require_calibration(name))
    return OpenVinoBackend(model, name=name, precision=precision, threads=ctx.intra_threads, crop_size=ctx.crop_size)


@register_backend("openvino", summary="OpenVINO fp32", **OPENVINO)
def openvino_fp32(ctx: BackendContext) -> Backend:
    return _build(ctx, "fp32")


@register_backend("openvino-bf16", summary="OpenVINO bfloat16, where the CPU has native bf16", precision="bf16",
                  fp32_reference="openvino", **OPENVINO)
def openvino_bf16(ctx: BackendContext) -> Backend:
    return _build(ctx, "bf16")


@register_backend("openvino-int8", summary="OpenVINO int8 from NNCF's post-training quantization",
                  precision="int8", calibrated=True, fp32_reference="openvino", **OPENVINO)
def openvino_int8(ctx: BackendContext) -> Backend:
    return _build(ctx, "int8")
