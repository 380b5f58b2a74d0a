"""What every backend is and what it is built from: :class:`Backend` and :class:`BackendContext`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...errors import UserError


def note(message: str) -> None:
    """One ``googlenet: note:`` line on stderr (what a backend decided for the user, and why)."""
    print(f"googlenet: note: {message}", file=sys.stderr, flush=True)


class Backend:
    """Logits of normalized crops: ``backend(images) -> (N, classes)`` float32 on the CPU (or ``images``' device).

    ``bind(x)`` returns a zero-argument callable that runs one fixed batch (what ``googlenet bench`` times, with
    the input already converted); its result goes through :meth:`to_numpy` for the bench's comparisons."""

    name = "backend"
    crop_size: int | None = None

    def __call__(self, images: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def bind(self, images: Tensor) -> Callable[[], Any]:
        return lambda: self(images)

    def to_numpy(self, out: Any):
        return out.detach().cpu().float().numpy() if isinstance(out, Tensor) else out

    def describe(self) -> str:
        return self.name


@dataclass
class BackendContext:
    """What a backend factory builds from: the model (or an ONNX file), the crop it reads and the machine."""

    model: nn.Module | None = None
    crop_size: int = 224
    channels: int = 3
    device: str | torch.device = "cpu"
    #: An fp32 ONNX file to run (an ``.onnx`` model given by the user); else the model is exported.
    onnx_path: str | Path | None = None
    #: Normalized crops (N, C, crop_size, crop_size) of real photos: int8 calibration and auto's measurement.
    calibration: Tensor | None = None
    threads: int | None = None
    #: Where exported graphs go (the bench reuses them across backends); a temporary folder when None.
    workdir: Path | None = None

    @property
    def intra_threads(self) -> int:
        return self.threads or torch.get_num_threads()

    def require_model(self, backend: str) -> nn.Module:
        if self.model is None:
            raise UserError(f"--backend {backend} needs a .safetensors model file, not an .onnx export; pass the "
                            "model file it was exported from, or --backend ort")
        return self.model

    def onnx(self, *, fuse_inception: bool = False) -> Path:
        """The fp32 ONNX graph: the user's file, else the BN-folded model (no aux heads, dynamic batch) exported
        once into ``workdir``. ``fuse_inception`` also fuses each inception module's input 1x1 convolutions
        (:func:`~googlenet.deploy.fusion.optimize_for_inference`)."""
        if self.onnx_path is not None:
            return Path(self.onnx_path)
        from ..export import LogitsOnly
        from ..fusion import optimize_for_inference
        from ..onnx import export_onnx

        assert self.workdir is not None, "build_backend gives every context a workdir"
        path = self.workdir / ("fused.onnx" if fuse_inception else "folded.onnx")
        if not path.exists():
            folded = optimize_for_inference(self.require_model("ort").cpu(), fuse_inception=fuse_inception)
            export_onnx(LogitsOnly(folded), path, input_size=self.crop_size, in_channels=self.channels)
        return path

    def require_calibration(self, backend: str) -> Tensor:
        if self.calibration is None or len(self.calibration) == 0:
            raise UserError(f"--backend {backend} needs calibration images; evaluate on a dataset, or pass "
                            "--data-dir with cifar10-jpeg.tar.gz")
        return self.calibration.detach().cpu().float()
