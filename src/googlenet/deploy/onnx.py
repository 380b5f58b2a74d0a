"""The one ONNX exporter: every caller (``googlenet export``, the bench, int8 quantization) goes through it.

It uses the TorchScript-based exporter (``dynamo=False``): it needs no extra package beyond ``onnx``,
exports our fused graphs in seconds, and its graph is the one ONNX Runtime was measured fastest on
(docs/performance.md). The input is ``images`` (N, C, H, W), the output ``logits``; the batch dimension
is dynamic; ``metadata`` (class names, preprocessing, ...) goes into ``metadata_props``; the file is
written atomically.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UserError
from ..system.files import atomic_write

INPUT_NAME = "images"
OUTPUT_NAME = "logits"


def flat_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """ONNX ``metadata_props`` hold strings: nested values are stored as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    input_size: int = 224,
    in_channels: int | None = None,
    metadata: dict[str, Any] | None = None,
    opset: int | None = 18,
    dynamic_batch: bool = True,
) -> Path:
    """Export ``model`` (put in eval mode; usually :func:`~googlenet.deploy.fusion.optimize_for_inference`'s
    result, or a logits-only wrapper) to ONNX at ``path``, and return the path."""
    try:
        import onnx
    except ImportError:
        raise UserError("ONNX export needs the onnx package; pip install 'googlenet[onnx]'") from None
    path = Path(path)
    if in_channels is None:
        in_channels = getattr(model, "in_channels", 3)
    model = model.eval()
    # Batch 2, not 1: an exporter may specialize a dimension of size 1.
    example = torch.randn(2, in_channels, input_size, input_size)
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None

    def write(tmp: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(model, (example,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=dynamic_axes, opset_version=opset or 18, dynamo=False)
        if metadata:
            proto = onnx.load(str(tmp))
            for key, value in flat_metadata(metadata).items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.save_model(proto, str(tmp))

    return atomic_write(path, write)
