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
from .base import Backend, BackendContext, Streams

ORT = dict(engine="onnxruntime", cpu_only=True, requires="onnxruntime",
           install="pip install onnxruntime (or googlenet[onnx])")


class OrtBackend(Backend):
    """ONNX Runtime on an ONNX file (CPU). The session holds the graph, so a temporary file may go after.

    Two sessions on the one graph: ``session`` runs a small batch on every thread (latency), ``stream_session``
    (one intra-op thread) runs the parts of a large batch at once, one per core
    (:class:`~.base.Streams`; ONNX Runtime's ``run`` is thread-safe and releases the GIL). ``streams=1`` keeps
    every batch on the one session."""

    def __init__(self, path: str | Path, *, name: str = "ort", crop_size: int | None = None,
                 threads: int | None = None, streams: int | None = None) -> None:
        from ..ort import ort_session

        self.name, self.path = name, Path(path)
        self.threads = threads or torch.get_num_threads()
        self.session = ort_session(path, self.threads)
        self.streams = Streams(self.threads if streams is None else streams)
        # Made now, while the file is there (a temporary export may go once the backend is built).
        self.stream_session = ort_session(path, 1, checked=True) if self.streams.count > 1 else None
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.output_name = self.session.get_outputs()[0].name
        size = inputs[0].shape[-1]
        self.crop_size = size if isinstance(size, int) else crop_size

    def _array(self, images: Tensor) -> np.ndarray:
        if self.crop_size and images.shape[-1] != self.crop_size:
            raise UserError(f"{self.path.name} reads {self.crop_size}-px crops, got {images.shape[-1]}; drop "
                            "--crop-size, or export the model at that size")
        return np.ascontiguousarray(images.detach().cpu().float().numpy())

    def _run(self, x: np.ndarray) -> np.ndarray:
        if not self.streams.splits(len(x)):
            return self.session.run([self.output_name], {self.input_name: x})[0]
        session = self.stream_session
        assert session is not None
        parts = self.streams.parts(x)
        outs = self.streams.map(lambda _, part: session.run([self.output_name], {self.input_name: part})[0], parts)
        return np.concatenate(outs)

    def __call__(self, images: Tensor) -> Tensor:
        return torch.from_numpy(self._run(self._array(images)))

    def bind(self, images: Tensor):
        x = self._array(images)
        return lambda: self._run(x)


@register_backend("ort", summary="ONNX Runtime fp32", reads_onnx=True, **ORT)
def ort(ctx: BackendContext) -> Backend:
    return OrtBackend(ctx.onnx(), crop_size=ctx.crop_size, threads=ctx.intra_threads)


@register_backend("ort-fused", summary="ONNX Runtime fp32 on the 1x1-fused graph", **ORT)
def ort_fused(ctx: BackendContext) -> Backend:
    return OrtBackend(ctx.onnx(fuse_inception=True), name="ort-fused", crop_size=ctx.crop_size,
                      threads=ctx.intra_threads)
