"""``ort`` and ``ort-fused``: ONNX Runtime fp32 on the CPU.

``ort`` runs the BN-folded export with the inception 1x1 convolutions left unfused: in ONNX Runtime the fused
graph's ``Split`` costs an NCHWc reorder per module (docs/performance.md "ort-folded"), so the unfused graph,
the same arithmetic as torchvision's, is the fastest fp32 ONNX graph; ``ort-fused`` is the fused one, kept for
the bench."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ...errors import UserError
from . import register_backend
from .base import Backend, BackendContext

ORT = dict(engine="onnxruntime", cpu_only=True, requires="onnxruntime",
           install="pip install onnxruntime (or googlenet[onnx])")


class OrtBackend(Backend):
    """ONNX Runtime on an ONNX file (CPU). The session holds the graph, so a temporary file may go after."""

    def __init__(self, path: str | Path, *, name: str = "ort", crop_size: int | None = None,
                 threads: int | None = None) -> None:
        from ..ort import ort_session

        self.name, self.path = name, Path(path)
        self.session = ort_session(path, threads or torch.get_num_threads())
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.output_name = self.session.get_outputs()[0].name
        size = inputs[0].shape[-1]
        self.crop_size = size if isinstance(size, int) else crop_size

    def _feed(self, images: Tensor) -> dict:
        if self.crop_size and images.shape[-1] != self.crop_size:
            raise UserError(f"{self.path.name} reads {self.crop_size}-px crops, got {images.shape[-1]}; drop "
                            "--crop-size, or export the model at that size")
        return {self.input_name: np.ascontiguousarray(images.detach().cpu().float().numpy())}

    def __call__(self, images: Tensor) -> Tensor:
        (out,) = self.session.run([self.output_name], self._feed(images))
        return torch.from_numpy(out)

    def bind(self, images: Tensor):
        feed = self._feed(images)
        return lambda: self.session.run([self.output_name], feed)[0]


@register_backend("ort", summary="ONNX Runtime fp32", reads_onnx=True, **ORT)
def ort(ctx: BackendContext) -> Backend:
    return OrtBackend(ctx.onnx(), crop_size=ctx.crop_size, threads=ctx.intra_threads)


@register_backend("ort-fused", summary="ONNX Runtime fp32 on the 1x1-fused graph", **ORT)
def ort_fused(ctx: BackendContext) -> Backend:
    return OrtBackend(ctx.onnx(fuse_inception=True), name="ort-fused", crop_size=ctx.crop_size,
                      threads=ctx.intra_threads)
