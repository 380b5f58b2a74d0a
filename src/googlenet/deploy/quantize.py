"""int8 post-training static quantization with ONNX Runtime, calibrated on real images.

What exists in this environment (torch 2.14.1, onnxruntime 1.32): PyTorch's PT2E flow
(``torch.ao.quantization.quantize_pt2e`` and the X86InductorQuantizer) has moved out of torch into
``torchao``, which is not installed; ONNX Runtime's ``quantize_static`` is available and its int8
convolution kernels (MLAS, u8 activations x s8 weights) are what runs here. So the int8 path is:

1. :func:`googlenet.deploy.fusion.optimize_for_inference` (BN folded, inception 1x1 convolutions fused),
2. :func:`googlenet.deploy.onnx.export_onnx`,
3. :func:`quantize_onnx`: QDQ format, per-channel symmetric int8 weights, uint8 activations, ranges
   calibrated on real images (MinMax by default, or percentile/entropy).

On AVX2 machines without VNNI the u8 x s8 multiply (``vpmaddubsw``) can saturate its int16
intermediate sums; ``reduce_range=True`` (7-bit weights) avoids it at a small accuracy cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..system.hardware import cpu_has_vnni

CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


def quantize_onnx(
    src: str | Path, dst: str | Path, calibration: torch.Tensor | np.ndarray, *, method: str = "minmax",
    per_channel: bool = True, reduce_range: bool | None = None, batch_size: int = 8,
) -> Path:
    """Quantize the fp32 ONNX model ``src`` to int8 at ``dst``, calibrated on the images ``calibration``
    (N, C, H, W, normalized like the model's training input).

    ``reduce_range=None`` picks 7-bit weights on CPUs without VNNI (where ``vpmaddubsw`` saturates: the
    logit errors of 8-bit against 7-bit weights are in docs/performance.md, "The optimizations")."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise UserError(f"ONNX model {str(src)!r} not found; export one first (googlenet.deploy.onnx.export_onnx)")
    if method not in CALIBRATION_METHODS:
        raise UserError(f"unknown calibration method {method!r}; choose from {', '.join(CALIBRATION_METHODS)}")
    data = calibration.detach().cpu().numpy() if isinstance(calibration, torch.Tensor) else np.asarray(calibration)
    if data.ndim != 4 or len(data) == 0:
        raise UserError(f"calibration images must be a non-empty (N, C, H, W) batch, got shape {data.shape}")
    data = data.astype(np.float32)
    if reduce_range is None:
        reduce_range = not cpu_has_vnni()

    import onnx

    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.chunks = iter([data[i:i + batch_size] for i in range(0, len(data), batch_size)])

        def get_next(self) -> dict[str, Any] | None:
            chunk = next(self.chunks, None)
            return None if chunk is None else {input_name: chunk}

    dst.parent.mkdir(parents=True, exist_ok=True)
    prepped = dst.with_name(dst.stem + ".pre.onnx")
    try:
        quant_pre_process(str(src), str(prepped), skip_symbolic_shape=True)
        calib = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                 "entropy": CalibrationMethod.Entropy}[method]
        quantize_static(
            str(prepped), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
            reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=calib, extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    finally:
        prepped.unlink(missing_ok=True)
    return dst
