"""ONNX Runtime on the CPU: one way to open a session, one way to run a model file on images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, UserError

_FIX = "export the model again with `googlenet export MODEL --format onnx --force`"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or exc.__class__.__name__


def check_onnx_file(path: str | Path) -> Path:
    """``path`` if it is a well-formed ONNX model (``onnx.checker``: the protobuf parses, the graph's nodes,
    types and opsets are consistent); else a one-line DataError naming the file. Run before a session is built,
    so a truncated or garbage file is one line, not ONNX Runtime's multi-line failure (docs/robustness.md)."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise DataError(f"ONNX model {str(path)!r} not found or not a file; check the path")
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # onnx raises protobuf DecodeError, ValidationError, or plain errors for garbage
        raise DataError(f"{str(path)!r} is not a valid ONNX model ({_one_line(exc)}); the file is truncated or "
                        f"damaged: {_FIX}") from None
    return path


def ort_session(path: str | Path, threads: int | None = None, *, checked: bool = False):
    """An ``onnxruntime.InferenceSession`` on the CPU with every graph optimization on.

    One inter-op thread: our graphs are chains of convolutions, and a second pool only competes for
    the cores with the intra-op threads. The file is checked first (:func:`check_onnx_file`; ``checked``: it
    already was, for a second session on the same file), and a graph ONNX Runtime still refuses is a one-line
    DataError.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("ONNX Runtime is not installed; pip install onnxruntime (or googlenet[onnx])") from None
    if not checked:
        check_onnx_file(path)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's Fail / InvalidGraph / NotImplemented ...
        raise DataError(f"ONNX Runtime cannot run {str(path)!r} ({_one_line(exc)}); {_FIX}") from None


def onnx_predict(path: str | Path, images: torch.Tensor | np.ndarray, *, batch_size: int = 256,
                 threads: int | None = None) -> np.ndarray:
    """Logits of the ONNX model at ``path`` for ``images`` (run in batches with ONNX Runtime)."""
    session = ort_session(path, threads or torch.get_num_threads())
    name = session.get_inputs()[0].name
    data = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    outs = [session.run(None, {name: data[i:i + batch_size].astype(np.float32)})[0]
            for i in range(0, len(data), batch_size)]
    return np.concatenate(outs)
