"""Export a model file for deployment: ONNX, TorchScript or a ``torch.export`` ExportedProgram.

Every export:

* drops the auxiliary classifiers (section 5: "at inference time, these auxiliary networks are
  discarded"): the model is rebuilt with ``aux_logits=False`` where it has them;
* takes a batch of any size (the batch dimension is dynamic; height and width are the crop size);
* maps ``images`` (N, C, H, W) float32, already normalized, to ``logits`` (N, classes);
* stores how to use it as metadata: class names, preprocessing (mean, std, input size, channels),
  the registry name and builder arguments. ONNX: ``metadata_props``; TorchScript and
  ExportedProgram: an extra file ``googlenet.json`` inside the archive (:func:`read_export_metadata`).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import DataError, UserError
from ..models.outputs import split_outputs
from ..system.files import atomic_write, check_output_file
from ..weights.checkpoint import LoadedModel, load_model, read_model_metadata, resolve_model_path
from .formats import FORMATS, SUFFIXES
from .onnx import export_onnx

METADATA_FILE = "googlenet.json"
EXPORT_FORMAT = "googlenet-export/1"


class LogitsOnly(nn.Module):
    """The main classifier's logits, whatever the wrapped model returns."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        main, _ = split_outputs(self.model(images))
        return main


@dataclass
class ExportResult:
    path: Path
    format: str
    metadata: dict[str, Any]
    max_abs_diff: float | None = None  # exported vs PyTorch output on a random batch, when checked

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "max_abs_diff": self.max_abs_diff,
                "metadata": self.metadata}


def load_for_export(checkpoint: str | Path) -> LoadedModel:
    """The model of ``checkpoint`` in eval mode, rebuilt without auxiliary heads where it has them."""
    path = resolve_model_path(checkpoint)
    meta = read_model_metadata(path)
    loaded = load_model(path)
    if getattr(loaded.model, "aux_logits", False) or meta["model_kwargs"].get("aux_logits"):
        loaded = load_model(path, aux_logits=False)
    return loaded


def export_metadata(loaded: LoadedModel) -> dict[str, Any]:
    from ..models.registry import model_info

    pre = loaded.preprocessing.as_dict()  # a record (load_model fills in input_size and channels)
    pre.setdefault("input_size", model_info(loaded.model_name).input_size)
    pre.setdefault("channels", int(loaded.model_kwargs.get("in_channels", 3)))
    return {
        "format": EXPORT_FORMAT,
        "model": loaded.model_name,
        "model_kwargs": loaded.model_kwargs,
        "class_names": loaded.class_names,
        "preprocessing": pre,
        "input": "images: float32 (N, C, H, W), scaled to [0, 1] then normalized with preprocessing mean/std",
        "output": "logits: float32 (N, classes); softmax gives probabilities",
    }


def export_model(
    checkpoint: str | Path,
    output: str | Path | None = None,
    *,
    format: str = "onnx",
    opset: int | None = None,
    check: bool = True,
    force: bool = False,
) -> ExportResult:
    """Export ``checkpoint`` to ``output`` (default: beside it, with the format's suffix).

    An existing ``output`` is replaced only with ``force``; the checkpoint itself never (docs/robustness.md).
    """
    if format not in FORMATS:
        raise UserError(f"unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    source = resolve_model_path(checkpoint)
    if output is None:
        output = source.with_suffix("").with_name(source.stem + SUFFIXES[format])
    output = Path(output)
    if output.is_dir():
        example_name = output / ("model" + SUFFIXES[format])
        raise UserError(f"{str(output)!r} is a folder; pass the output file name, e.g. {example_name}")
    check_output_file(output, force=force, inputs=(source,), what="model file")
    loaded = load_for_export(source)
    meta = export_metadata(loaded)
    pre = meta["preprocessing"]
    model = LogitsOnly(loaded.model).eval()
    # Batch 2, not 1: exporters specialize a dimension of size 1, and the batch must stay dynamic.
    example = torch.randn(2, int(pre["channels"]), int(pre["input_size"]), int(pre["input_size"]))
    with torch.no_grad():
        expected = model(example)
    batch = torch.export.Dim("batch", min=1, max=65536)
    if format == "onnx":
        _export_onnx(model, example, output, meta, opset)
    elif format == "torchscript":
        _export_torchscript(model, example, output, meta)
    else:
        _export_program(model, example, output, meta, batch)
    diff = None
    if check:
        check_input = torch.randn(3, *example.shape[1:])  # another batch size than the example's
        with torch.no_grad():
            expected = model(check_input)
        got = run_exported(output, check_input, format=format)
        diff = float((got - expected).abs().max())
    return ExportResult(output, format, meta, diff)


def _export_onnx(model: nn.Module, example: Tensor, output: Path, meta: dict, opset: int | None) -> None:
    export_onnx(model, output, input_size=example.shape[-1], in_channels=example.shape[1], metadata=meta, opset=opset)


def _export_torchscript(model: nn.Module, example: Tensor, output: Path, meta: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice; the file format is still read everywhere
        scripted = torch.jit.trace(model, example, check_trace=False)
        files = {METADATA_FILE: json.dumps(meta)}
        atomic_write(output, lambda tmp: torch.jit.save(scripted, str(tmp), _extra_files=files))


def _export_program(model: nn.Module, example: Tensor, output: Path, meta: dict, batch) -> None:
    program = torch.export.export(model, (example,), dynamic_shapes={"images": {0: batch}}, strict=False)
    files = {METADATA_FILE: json.dumps(meta)}
    buffer = io.BytesIO()  # torch.export.save wants a .pt2 name or a buffer; the temporary file has neither
    torch.export.save(program, buffer, extra_files=files)
    atomic_write(output, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def detect_format(path: str | Path) -> str:
    name = str(path).lower()
    if name.endswith(".onnx"):
        return "onnx"
    if name.endswith(".pt2"):
        return "exported-program"
    return "torchscript"


def read_export_metadata(path: str | Path, format: str | None = None) -> dict[str, Any]:
    """The metadata stored by :func:`export_model` (class names, preprocessing, ...)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"exported model {str(path)!r} not found; check the path")
    format = format or detect_format(path)
    if format == "onnx":
        import onnx

        from ..weights.checkpoint import check_metadata
        from .ort import check_onnx_file

        proto = onnx.load(str(check_onnx_file(path)), load_external_data=False)
        raw = {p.key: p.value for p in proto.metadata_props}
        if raw.get("format") != EXPORT_FORMAT:
            raise DataError(f"{str(path)!r} has no googlenet metadata; export it with `googlenet export`")
        checked = check_metadata(raw, str(path))  # each field, with its own one-line message
        checked["preprocessing"] = checked["preprocessing"].as_dict()  # JSON, as the other formats store it
        return {**{k: v for k, v in raw.items() if k in ("format", "input", "output")}, **checked}
    files = {METADATA_FILE: ""}
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    else:
        torch.export.load(str(path), extra_files=files)
    if not files[METADATA_FILE]:
        raise DataError(f"{str(path)!r} has no googlenet metadata; export it with `googlenet export`")
    return json.loads(files[METADATA_FILE])


def run_exported(path: str | Path, images: Tensor, *, format: str | None = None) -> Tensor:
    """Logits of an exported model: ONNX Runtime for ONNX, PyTorch for the others."""
    format = format or detect_format(path)
    if format == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise UserError("checking an ONNX export needs onnxruntime; pip install onnxruntime, "
                            "or pass --no-check") from None
        from .ort import ort_session

        session = ort_session(path)
        (out,) = session.run(["logits"], {"images": images.numpy()})
        return torch.from_numpy(out)
    with torch.no_grad():
        if format == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.jit.load(str(path), map_location="cpu")(images)
        return torch.export.load(str(path)).module()(images)
