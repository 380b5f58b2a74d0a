"""Eval backends: what runs a model's forward pass when ``googlenet eval`` and ``predict`` read their crops.

A :class:`Backend` maps normalized crops (N, C, s, s) float32 to logits (N, classes) float32. One is built per
ensemble member and crop size (an ONNX graph is exported at one input size; its batch is dynamic), then
called once per crop batch:

* ``torch`` -- :func:`~googlenet.deploy.fusion.optimize_for_inference` (batch norm folded, the inception
  module's three input 1x1 convolutions fused into one) in channels_last, run by PyTorch/oneDNN;
* ``ort`` -- ONNX Runtime fp32 on the export of the BN-folded model (``fuse_inception=False``: ONNX Runtime
  runs the unfused 1x1 convolutions as fast or faster, docs/performance.md "ort-folded");
* ``int8`` -- that export quantized by :func:`~googlenet.deploy.quantize.quantize_onnx` (static QDQ,
  calibrated on real images of the data being evaluated), run by ONNX Runtime's u8 x s8 kernels;
* ``auto`` -- the fastest fp32 backend measured on the AVX-512 host (docs/evaluation.md "Backends"):
  ONNX Runtime when it is installed and the run is on the CPU, else torch.

``eager`` (the model as loaded, no rewrite) is what the library uses when no backend is named, so results
of :class:`~googlenet.evaluation.Ensemble` stay bit-for-bit those of the model itself.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UserError
from ..models.outputs import split_outputs

#: What ``--backend`` accepts.
BACKENDS = ("auto", "torch", "ort", "int8")
#: Calibration images for int8 (the bench's count; more changes the ranges little and costs seconds each).
CALIBRATION_IMAGES = 32


def check_backend(name: str | None) -> str:
    """``name`` if it is a backend, else a one-line UserError naming the choices."""
    if name is None:
        return "eager"
    if name not in BACKENDS + ("eager",):
        raise UserError(f"unknown --backend {name!r}; use one of {', '.join(BACKENDS)} (auto: the fastest fp32)")
    return name


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_backend(name: str | None, device: str | torch.device = "cpu", *, onnx_file: bool = False) -> str:
    """The concrete backend for ``name`` (``auto`` -> ``ort`` or ``torch``), checked against the device."""
    name = check_backend(name)
    on_cpu = torch.device(device).type == "cpu"
    if onnx_file:
        if name == "torch":
            raise UserError("an .onnx model runs on ONNX Runtime; pass --backend ort (or auto/int8), or the "
                            ".safetensors model file it was exported from for --backend torch")
        name = "int8" if name == "int8" else "ort"
    elif name == "auto":
        # Measured on the 2-core AVX-512 host (docs/evaluation.md "Backends"): ONNX Runtime fp32 on the folded
        # export beats the fused channels_last model in PyTorch at batch 32 and 224 px.
        name = "ort" if on_cpu and onnxruntime_available() else "torch"
    if name in ("ort", "int8"):
        if not on_cpu:
            raise UserError(f"--backend {name} runs on the CPU (ONNX Runtime); pass --device cpu, or --backend "
                            "torch for --device " + str(device))
        if not onnxruntime_available():
            raise UserError(f"--backend {name} needs ONNX Runtime; pip install onnxruntime (or googlenet[onnx]), "
                            "or pass --backend torch")
    return name


class Backend:
    """Logits of normalized crops: ``backend(images) -> (N, classes)`` float32 on ``images``' device."""

    name = "backend"
    crop_size: int | None = None

    def __call__(self, images: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


class EagerBackend(Backend):
    """The model exactly as loaded."""

    name = "eager"

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()

    def __call__(self, images: Tensor) -> Tensor:
        with torch.inference_mode():
            main, _ = split_outputs(self.model(images))
        return main.float()


class TorchBackend(Backend):
    """The folded and fused model in channels_last (oneDNN runs the convolutions without layout reorders)."""

    name = "torch"

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        from .fusion import optimize_for_inference

        self.device = torch.device(device)
        self.model = optimize_for_inference(model.to(self.device), memory_format=torch.channels_last)

    def __call__(self, images: Tensor) -> Tensor:
        x = images.to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            main, _ = split_outputs(self.model(x))
        return main.float()


class OrtBackend(Backend):
    """ONNX Runtime on an ONNX file (CPU). The session holds the graph, so a temporary file may go after."""

    name = "ort"

    def __init__(self, path: str | Path, *, name: str = "ort", crop_size: int | None = None,
                 threads: int | None = None) -> None:
        from .ort import ort_session

        self.name = name
        self.path = Path(path)
        self.session = ort_session(path, threads or torch.get_num_threads())
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.output_name = self.session.get_outputs()[0].name
        size = inputs[0].shape[-1]
        self.crop_size = size if isinstance(size, int) else crop_size

    def __call__(self, images: Tensor) -> Tensor:
        if self.crop_size and images.shape[-1] != self.crop_size:
            raise UserError(f"{self.path.name} reads {self.crop_size}-px crops, got {images.shape[-1]}; drop "
                            "--crop-size, or export the model at that size")
        feed = {self.input_name: np.ascontiguousarray(images.detach().cpu().float().numpy())}
        (out,) = self.session.run([self.output_name], feed)
        return torch.from_numpy(out)


def export_for_ort(model: nn.Module, path: str | Path, *, crop_size: int, channels: int) -> Path:
    """The BN-folded model (no 1x1 fusion, no aux heads) exported to ONNX at ``crop_size``, dynamic batch."""
    from .export import LogitsOnly
    from .fusion import optimize_for_inference
    from .onnx import export_onnx

    folded = optimize_for_inference(model.cpu(), fuse_inception=False)
    return export_onnx(LogitsOnly(folded), path, input_size=crop_size, in_channels=channels)


def build_backend(
    kind: str, model: nn.Module | None = None, *, crop_size: int, channels: int, device: str | torch.device = "cpu",
    onnx_path: str | Path | None = None, calibration: Tensor | None = None, threads: int | None = None,
) -> Backend:
    """One backend for one model and crop size.

    Args:
        kind: ``eager``, ``torch``, ``ort`` or ``int8`` (resolve ``auto`` first with :func:`resolve_backend`).
        model: the PyTorch model (eval mode); or ``onnx_path``, an fp32 ONNX file to run (or quantize).
        calibration: for ``int8``, normalized crops (N, C, crop_size, crop_size) of real images.
    """
    if kind == "eager":
        return EagerBackend(model)
    if kind == "torch":
        if model is None:
            raise UserError("--backend torch needs a .safetensors model file, not an .onnx export")
        return TorchBackend(model, device)
    if kind not in ("ort", "int8"):
        raise UserError(f"unknown backend {kind!r}; use one of {', '.join(BACKENDS)}")
    with tempfile.TemporaryDirectory(prefix="googlenet-backend-") as tmp:
        src = Path(onnx_path) if onnx_path else export_for_ort(model, Path(tmp) / "model.onnx", crop_size=crop_size,
                                                               channels=channels)
        if kind == "ort":
            return OrtBackend(src, crop_size=crop_size, threads=threads)
        if calibration is None or len(calibration) == 0:
            raise UserError("--backend int8 needs calibration images; evaluate on a dataset or pass --data-dir "
                            "with cifar10-jpeg.tar.gz")
        from .quantize import quantize_onnx

        q_path = quantize_onnx(src, Path(tmp) / "model_int8.onnx", calibration.detach().cpu().float())
        return OrtBackend(q_path, name="int8", crop_size=crop_size, threads=threads)

