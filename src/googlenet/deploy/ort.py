"""ONNX Runtime on the CPU: one way to open a session, one way to run a model file on images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import UserError


def ort_session(path: str | Path, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` on the CPU with every graph optimization on.

    One inter-op thread: our graphs are chains of convolutions, and a second pool only competes for
    the cores with the intra-op threads.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("ONNX Runtime is not installed; pip install onnxruntime (or googlenet[onnx])") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predict(path: str | Path, images: torch.Tensor | np.ndarray, *, batch_size: int = 256,
                 threads: int | None = None) -> np.ndarray:
    """Logits of the ONNX model at ``path`` for ``images`` (run in batches with ONNX Runtime)."""
    session = ort_session(path, threads or torch.get_num_threads())
    name = session.get_inputs()[0].name
    data = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    outs = [session.run(None, {name: data[i:i + batch_size].astype(np.float32)})[0]
            for i in range(0, len(data), batch_size)]
    return np.concatenate(outs)
