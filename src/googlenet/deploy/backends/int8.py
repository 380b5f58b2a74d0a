"""``int8``: ONNX Runtime's u8 x s8 kernels on the fp32 export quantized by
:func:`~googlenet.deploy.quantize.quantize_onnx` (static QDQ, calibrated on real photos)."""

from __future__ import annotations

from . import register_backend
from .base import Backend, BackendContext
from .ort import ORT, OrtBackend


@register_backend("int8", summary="ONNX Runtime int8", precision="int8", calibrated=True, reads_onnx=True,
                  fp32_reference="ort", **ORT)
def int8(ctx: BackendContext) -> Backend:
    from ..quantize import quantize_onnx

    assert ctx.workdir is not None
    calibration = ctx.require_calibration("int8")
    path = quantize_onnx(ctx.onnx(), ctx.workdir / f"int8-{ctx.crop_size}.onnx", calibration)
    return OrtBackend(path, name="int8", crop_size=ctx.crop_size, threads=ctx.intra_threads)
