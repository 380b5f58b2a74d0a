"""The backend registry: every way ``eval``, ``predict``, ``explain``, ``bench`` and ``serve`` run a forward pass.

A backend maps normalized crops (N, C, s, s) float32 to logits (N, classes) float32. Each lives in one file of
this folder and registers itself with :func:`register_backend`; the registry imports the folder on first use,
so adding a backend is one file (docs/CONTRIBUTING.md "Adding a backend"). A name means one thing everywhere:

=================  =====================================================================================
``eager``          the model as loaded (the library's default: results stay those of the model itself)
``torch``          BN folded, inception 1x1 convolutions fused, channels_last, PyTorch/oneDNN
``compile``        ``torch`` under ``torch.compile`` (inductor, static shapes)
``ort``            ONNX Runtime fp32 on the BN-folded export
``ort-fused``      ONNX Runtime fp32 on the export with the 1x1 convolutions fused too
``int8``           ONNX Runtime int8 (static QDQ, calibrated on real photos)
``openvino``       OpenVINO fp32 on the BN-folded export
``openvino-bf16``  OpenVINO computing in bfloat16, where the CPU has native bf16 dot products
``openvino-int8``  OpenVINO on NNCF's post-training int8 quantization, calibrated on real photos
``auto``           the fastest fp32/bf16 backend within :data:`~.auto.TOP1_BOUND_PT` of torch, measured once
                   per model and machine and cached (:mod:`.auto`)
=================  =====================================================================================

``googlenet bench`` times these same objects beside its torchvision anchors (:mod:`googlenet.bench.backends`).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import UserError
from .base import Backend, BackendContext, note

#: Calibration images for int8 and for auto's measurement (more changes int8's ranges little and costs seconds).
CALIBRATION_IMAGES = 32
#: Names from before the one registry, and what they are called now (bench's old names).
RENAMED = {"channels-last": "torch", "ort-folded": "ort"}


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its factory and what the commands need to know before building it."""

    name: str
    factory: Callable[[BackendContext], Backend]
    summary: str
    precision: str = "fp32"  # fp32, bf16 or int8: what the arithmetic is
    engine: str = "torch"  # the library that runs it: torch, onnxruntime or openvino
    cpu_only: bool = False
    calibrated: bool = False  # needs ``BackendContext.calibration``
    reads_onnx: bool = False  # runs an .onnx model file
    requires: str | None = None  # the module it imports
    install: str = ""  # how to get that module
    fp32_reference: str | None = None  # the fp32 backend eval compares a reduced precision with

    def unavailable(self) -> str | None:
        """Why this backend cannot run here (one line), or None."""
        if self.requires and importlib.util.find_spec(self.requires) is None:
            return f"--backend {self.name} needs {self.requires}; {self.install or 'pip install ' + self.requires}"
        return None


_REGISTRY: dict[str, BackendSpec] = {}
_DISCOVERED = False


def register_backend(name: str, *, summary: str, **meta: Any) -> Callable:
    """Decorator: register ``factory(context) -> Backend`` under ``name`` (see :class:`BackendSpec`)."""

    def decorate(factory: Callable[[BackendContext], Backend]) -> Callable[[BackendContext], Backend]:
        if name in _REGISTRY:
            raise RuntimeError(f"backend {name!r} registered twice")
        _REGISTRY[name] = BackendSpec(name, factory, summary, **meta)
        return factory

    return decorate


def _discover() -> None:
    global _DISCOVERED
    if not _DISCOVERED:
        _DISCOVERED = True
        for module in pkgutil.iter_modules(__path__):
            if module.name != "base":
                importlib.import_module(f"{__name__}.{module.name}")


def backend_names() -> tuple[str, ...]:
    """Every registered name (``auto`` last), as ``--backend`` accepts them."""
    _discover()
    return tuple(sorted(_REGISTRY, key=lambda n: (n == "auto", n == "eager", list(_REGISTRY).index(n))))


def backend_spec(name: str) -> BackendSpec:
    """The registry entry for ``name``; an unknown name is a one-line UserError naming the choices."""
    _discover()
    if name in RENAMED:
        raise UserError(f"backend {name!r} is now called {RENAMED[name]!r}; pass --backend {RENAMED[name]}")
    if name not in _REGISTRY:
        raise UserError(f"unknown --backend {name!r}; use one of {', '.join(backend_names())}")
    return _REGISTRY[name]


def check_backend(name: str | None) -> str:
    """``name`` if it is a backend (None: ``eager``), else a one-line UserError naming the choices."""
    return "eager" if name is None else backend_spec(name).name


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_backend(name: str | None, device: str | torch.device = "cpu", *, onnx_file: bool = False) -> str:
    """``name`` checked against the device and the model file (``auto`` stays ``auto`` on the CPU, where it is
    decided by measurement when built; elsewhere it is ``torch``)."""
    name = check_backend(name)
    on_cpu = torch.device(device).type == "cpu"
    if onnx_file:
        if name in ("auto", "eager"):
            return "ort"
        if not backend_spec(name).reads_onnx:
            raise UserError(f"an .onnx model runs on ONNX Runtime or OpenVINO; pass --backend ort (or auto, int8, "
                            f"openvino...), or the .safetensors model file it was exported from for --backend {name}")
    if name == "auto":
        return "auto" if on_cpu else "torch"
    spec = backend_spec(name)
    if spec.cpu_only and not on_cpu:
        raise UserError(f"--backend {name} runs on the CPU ({spec.engine}); pass --device cpu, or --backend torch "
                        f"for --device {device}")
    reason = spec.unavailable()
    if reason:
        raise UserError(f"{reason}, or pass --backend torch")
    return name


def build_backend(name: str, model: torch.nn.Module | None = None, **context: Any) -> Backend:
    """One backend for one model and crop size: ``build_backend("ort", model, crop_size=224, channels=3)``.
    ``context`` is :class:`BackendContext`'s fields (``onnx_path``, ``calibration``, ``threads``, ``workdir``...);
    graphs are exported into a temporary folder unless ``workdir`` is given (the built backend keeps what it
    needs in memory)."""
    spec = backend_spec(name)
    ctx = BackendContext(model=model, **context)
    if ctx.workdir is not None:
        Path(ctx.workdir).mkdir(parents=True, exist_ok=True)
        return spec.factory(ctx)
    with tempfile.TemporaryDirectory(prefix="googlenet-backend-") as tmp:
        ctx.workdir = Path(tmp)
        return spec.factory(ctx)


def build_in(name: str, ctx: BackendContext) -> Backend:
    """Build backend ``name`` from an existing context (its workdir set): how ``auto`` builds its candidates."""
    return backend_spec(name).factory(ctx)


def backend_help() -> str:
    """The ``--backend`` choices with their one-line summaries (one help text for every command)."""
    _discover()
    return "; ".join(f"{n} ({_REGISTRY[n].summary})" for n in backend_names() if n != "eager")


__all__ = ["CALIBRATION_IMAGES", "Backend", "BackendContext", "BackendSpec", "backend_help", "backend_names",
           "backend_spec", "build_backend", "check_backend", "note", "register_backend", "resolve_backend"]
