"""Per-layer analysis measured from the real modules, and the papers' cost arithmetic.

:func:`summary` runs one forward pass through a copy of the model with forward hooks (output shapes,
connections) under :class:`torch.utils.flop_counter.FlopCounterMode` (multiply-adds), so every number
comes from the layers that actually run: nothing is typed in by hand. Multiply-adds count the
convolutions and matrix products (FlopCounterMode counts 2 FLOPs per multiply-add); pooling,
normalization and activations are not counted, as in the papers.

:func:`table1` arranges GoogLeNet's summary in the layout of the paper's Table 1, beside the paper's
printed params and ops. :func:`cost_comparisons` reproduces the arithmetic behind the 1x1 bottleneck
(GoogLeNet section 4) and the factorizations of Inception-v3 (Rethinking..., sections 3.1-3.2).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import UserError
from ..system.text import format_table, human

# Containers that are only plumbing: the summary looks inside them instead of giving them a row.
_TRANSPARENT = (nn.ModuleList, nn.ModuleDict)


@dataclass
class LayerRow:
    name: str
    type: str
    kernel: str  # "7x7/2" for a conv or pool, "" otherwise
    output_shape: tuple[int, ...] | None  # per image (C, H, W) or (features,); None if it never ran
    params: int
    macs: int  # multiply-adds per image
    connections: int  # LeNet-5's measure: multiply-adds plus one per biased output element
    auxiliary: bool = False  # an auxiliary classifier (runs only in training)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelSummary:
    model: str
    input_size: tuple[int, ...]  # (C, H, W)
    rows: list[LayerRow]
    params: int  # every parameter of the model
    trainable_params: int
    macs: int  # multiply-adds per image of the inference path (auxiliary heads excluded)
    aux_params: int = 0
    aux_macs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def params_without_aux(self) -> int:
        return self.params - self.aux_params

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["params_without_aux"] = self.params_without_aux
        return data


def _row_modules(module: nn.Module, prefix: str = "", depth: int = 1) -> list[tuple[str, nn.Module]]:
    """The modules that get a row: children of the root, looking through plain containers.

    Exactly-``nn.Sequential`` containers (like torchvision's ``features``) are expanded too; subclasses
    of Sequential (such as :class:`~googlenet.models.blocks.ConvBlock`) are layers and keep one row.
    ``depth`` > 1 expands every module that many levels.
    """
    rows: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        plain_container = isinstance(child, _TRANSPARENT) or type(child) is nn.Sequential
        if (plain_container or depth > 1) and any(True for _ in child.children()):
            rows.extend(_row_modules(child, full + ".", depth - 1 if not plain_container else depth))
        else:
            rows.append((full, child))
    return rows


def _kernel_text(module: nn.Module) -> str:
    """'7x7/2' for a convolution or pooling layer (or a conv-bn-relu block); '' for composite modules."""
    candidates = [module]
    if isinstance(module, nn.Sequential) and len(module) and isinstance(module[0], (nn.Conv2d, nn.ConvTranspose2d)):
        candidates.append(module[0])
    for m in candidates:
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.ConvTranspose2d)):
            k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
            s = m.stride if isinstance(m.stride, tuple) else (m.stride, m.stride)
            stride = s[0] if s[0] == s[1] else f"{s[0]}x{s[1]}"
            return f"{k[0]}x{k[1]}/{stride}"
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            return "global"
    return ""


def _type_name(module: nn.Module) -> str:
    names = {
        "ConvBlock": "convolution", "Conv2d": "convolution", "MaxPool2d": "max pool", "AvgPool2d": "avg pool",
        "AdaptiveAvgPool2d": "avg pool", "LocalResponseNorm": "LRN", "Linear": "linear", "Dropout": "dropout",
        "InceptionModule": "inception", "BatchNorm2d": "batch norm", "ReLU": "relu", "Identity": "identity",
        "AuxClassifier": "aux classifier",
    }
    return names.get(type(module).__name__, type(module).__name__)


def _leaf_connections(module: nn.Module, output: Tensor) -> int:
    """Multiply-adds plus one per biased output element, for the whole batch (LeNet-5's 'connections');
    :func:`summary` divides by the batch size, as it does for multiply-adds."""
    elements = output.numel()
    if isinstance(module, nn.Conv2d):
        fan_in = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
    elif isinstance(module, nn.Linear):
        fan_in = module.in_features
    else:
        return 0
    return elements * fan_in + (elements if module.bias is not None else 0)


def summary(
    model: nn.Module | str,
    input_size: int | Sequence[int] | None = None,
    *,
    depth: int = 1,
    name: str | None = None,
    **model_kwargs: Any,
) -> ModelSummary:
    """Per-layer output shape, parameters, multiply-adds and connections, measured from ``model``.

    Args:
        model: a module, or a registry name (built with ``model_kwargs``).
        input_size: image side ``224``, ``(H, W)`` or ``(C, H, W)``; default the model's native size.
        depth: 1 gives one row per top-level layer (Table 1's granularity); larger expands further.

    The model is copied and run in training mode (so auxiliary classifiers are measured too) on a batch
    of two under ``torch.no_grad``; the original is untouched. The rows of the auxiliary heads are those
    the model declares (``aux_classifier_paths``, models/interface.py).
    """
    model, name, size = _summary_input(model, input_size, name, model_kwargs)
    work = copy.deepcopy(model).train()
    rows_modules = _row_modules(work, depth=depth)
    shapes, connections, flops = _measure(work, rows_modules, size, name)
    root = type(work).__name__
    aux_roots = set(getattr(model, "aux_head_names", list)())
    rows = []
    for index, (row_name, module) in enumerate(rows_modules):
        module_flops = sum(flops.get(f"{root}.{row_name}", {}).values())
        rows.append(LayerRow(
            name=row_name,
            type=_type_name(module),
            kernel=_kernel_text(module),
            output_shape=shapes.get(index),
            params=sum(p.numel() for p in module.parameters()),
            macs=int(module_flops // 2 // _BATCH),
            connections=connections[index] // _BATCH,
            auxiliary=row_name.split(".")[0] in aux_roots,
        ))
    aux_rows = [r for r in rows if r.auxiliary]
    total_flops = sum(flops.get("Global", {}).values())
    return ModelSummary(
        model=name,
        input_size=size,
        rows=rows,
        params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        macs=int(total_flops // 2 // _BATCH) - sum(r.macs for r in aux_rows),
        aux_params=sum(r.params for r in aux_rows),
        aux_macs=sum(r.macs for r in aux_rows),
    )


def _summary_input(model: nn.Module | str, input_size: int | Sequence[int] | None, name: str | None,
                   model_kwargs: dict[str, Any]) -> tuple[nn.Module, str, tuple[int, int, int]]:
    """The module (built from the registry for a name), its display name and the (C, H, W) input."""
    from ..models.registry import create_model, model_info

    if isinstance(model, str):
        info = model_info(model)
        name = name or model
        if input_size is None:
            input_size = 32 if model_kwargs.get("small_input") else info.input_size
        model = create_model(model, **model_kwargs)
    name = name or type(model).__name__
    channels = getattr(model, "in_channels", 3)
    if input_size is None:
        raise UserError("input_size is required for a model that is not in the registry, e.g. input_size=224")
    size = (input_size,) if isinstance(input_size, int) else tuple(input_size)
    if len(size) == 1:
        size = (channels, size[0], size[0])
    elif len(size) == 2:
        size = (channels, *size)
    if len(size) != 3 or min(size) < 1:
        raise UserError(f"input_size must be N, (H, W) or (C, H, W) with positive values, got {input_size}")
    return model, name, size  # type: ignore[return-value]


#: Images per measuring pass: batch norm in training mode needs more than one value per channel.
_BATCH = 2


def _measure(work: nn.Module, rows_modules: list[tuple[str, nn.Module]], size: tuple[int, ...],
             name: str) -> tuple[dict[int, tuple[int, ...]], list[int], dict[str, dict[Any, int]]]:
    """One forward pass of ``work`` with hooks: each row's output shape, its connections (summed over the
    batch) and FlopCounterMode's FLOPs by module."""
    row_of: dict[int, int] = {}
    for index, (_, module) in enumerate(rows_modules):
        for sub in module.modules():
            row_of.setdefault(id(sub), index)
    shapes: dict[int, tuple[int, ...]] = {}
    connections = [0] * len(rows_modules)
    custom = {id(m) for _, m in rows_modules for m in m.modules() if hasattr(m, "connections")}
    custom_children = {id(sub) for _, m in rows_modules for c in m.modules() if id(c) in custom
                       for sub in c.modules() if sub is not c}
    hooks = []

    def record_shape(index: int):
        def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
            if isinstance(output, Tensor):
                shapes[index] = tuple(output.shape[1:])
            elif isinstance(output, tuple) and output and isinstance(output[0], Tensor):
                shapes[index] = tuple(output[0].shape[1:])
        return hook

    def record_connections(module: nn.Module, inputs: tuple, output: Any) -> None:
        index = row_of.get(id(module))
        if index is None or not isinstance(output, Tensor):
            return
        if id(module) in custom:
            connections[index] += int(module.connections(inputs, output))
        elif id(module) not in custom_children:
            connections[index] += _leaf_connections(module, output)

    for index, (_, module) in enumerate(rows_modules):
        hooks.append(module.register_forward_hook(record_shape(index)))
        for sub in module.modules():
            if id(sub) in custom or isinstance(sub, (nn.Conv2d, nn.Linear)):
                hooks.append(sub.register_forward_hook(record_connections))
    x = torch.randn(_BATCH, *size)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            work(x)
    except RuntimeError as exc:
        raise UserError(f"{name} cannot run on a {size} input ({str(exc).splitlines()[0]}); "
                        "choose another --input-size") from None
    finally:
        for hook in hooks:
            hook.remove()
    return shapes, connections, counter.get_flop_counts()


# --- Table 1 ---------------------------------------------------------------------------------------

# How Table 1 groups GoogLeNet's layers: its "convolution 3x3/1" row (depth 2) is our 1x1 reduce conv2
# together with the 3x3 conv3; LRN layers and dropout have no params or ops and are folded away.
_TABLE_1_GROUPS: list[tuple[str, list[str], int]] = [
    ("convolution", ["conv1"], 1),
    ("max pool", ["maxpool1"], 0),
    ("convolution", ["conv2", "conv3"], 2),
    ("max pool", ["maxpool2"], 0),
    ("inception (3a)", ["inception3a"], 2),
    ("inception (3b)", ["inception3b"], 2),
    ("max pool", ["maxpool3"], 0),
    ("inception (4a)", ["inception4a"], 2),
    ("inception (4b)", ["inception4b"], 2),
    ("inception (4c)", ["inception4c"], 2),
    ("inception (4d)", ["inception4d"], 2),
    ("inception (4e)", ["inception4e"], 2),
    ("max pool", ["maxpool4"], 0),
    ("inception (5a)", ["inception5a"], 2),
    ("inception (5b)", ["inception5b"], 2),
    ("avg pool", ["avgpool"], 0),
    ("dropout", ["dropout"], 0),
    ("linear", ["fc"], 1),
]


def table1(model_summary: ModelSummary, model: nn.Module, *, tolerance: float = 0.05) -> list[dict[str, Any]]:
    """GoogLeNet's summary in the paper's Table 1 layout, with the printed params/ops beside it.

    ``differs`` marks rows where a measured value is more than ``tolerance`` away from the printed one.
    """
    from ..models.googlenet import TABLE_1_PRINTED

    by_name = {r.name: r for r in model_summary.rows}
    table = []
    for label, names, depth in _TABLE_1_GROUPS:
        members = [by_name[n] for n in names if n in by_name]
        if not members:
            continue
        last = members[-1]
        module = model.get_submodule(names[-1])
        spec = getattr(module, "spec", None)
        kernel = members[0].kernel if label != "convolution" or len(names) == 1 else members[-1].kernel
        row: dict[str, Any] = {
            "type": _table1_label(label, model.get_submodule(names[0])),  # conv1 or the deep stem in its place
            "patch size/stride": "" if spec is not None else kernel,
            "output size": "x".join(map(str, (*last.output_shape[1:], last.output_shape[0])))
            if last.output_shape and len(last.output_shape) == 3 else
            ("1x1x" + str(last.output_shape[0]) if last.output_shape else "-"),
            "depth": depth,
            "#1x1": spec.n1x1 if spec else None,
            "#3x3 reduce": spec.n3x3_reduce if spec else (members[0].output_shape[0] if len(names) == 2 else None),
            "#3x3": spec.n3x3 if spec else (last.output_shape[0] if len(names) == 2 else None),
            "#5x5 reduce": spec.n5x5_reduce if spec else None,
            "#5x5": spec.n5x5 if spec else None,
            "pool proj": spec.pool_proj if spec else None,
            "params": sum(m.params for m in members),
            "ops": sum(m.macs for m in members),
        }
        printed = TABLE_1_PRINTED.get("conv3" if names == ["conv2", "conv3"] else names[0])
        row["paper params"], row["paper ops"] = printed if printed else (None, None)
        row["differs"] = bool(printed) and any(
            abs(measured - paper) > tolerance * paper for measured, paper in ((row["params"], printed[0]),
                                                                            (row["ops"], printed[1]))
        )
        table.append(row)
    return table


# --- cost arithmetic -------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------- as text
def has_paper_table(model: nn.Module) -> bool:
    """Whether the model's paper prints a table we lay the summary out as (GoogLeNet's Table 1)."""
    from ..models.googlenet import GoogLeNet

    return isinstance(model, GoogLeNet)


def render_summary(result: ModelSummary, model: nn.Module, *, paper_table: bool = True, connections: bool = False,
                   ref_params: int | None = None, ref_macs: float | None = None) -> str:
    """The summary as text: in the layout of the paper's table where there is one (``paper_table``), else
    one row per layer; then the totals beside the registry's reference figures."""
    if paper_table and has_paper_table(model):
        body = format_table1(table1(result, model), result)
    else:
        show_connections = connections or any(hasattr(m, "connections") for m in model.modules())
        body = format_layers(result, show_connections)
    return body + "\n" + format_totals(result, ref_params, ref_macs) + _additions_line(model)


def additions(model: nn.Module) -> list[str]:
    """The builder options beyond the paper a model was built with, in words (GoogLeNetOptions.additions)."""
    options = getattr(model, "options", None)
    return options.additions() if hasattr(options, "additions") else []


def _additions_line(model: nn.Module) -> str:
    found = additions(model)
    return ("\nbuilt with options beyond the paper: " + "; ".join(found)) if found else ""


def _table1_label(label: str, module: nn.Module) -> str:
    """Table 1's row name, marked where the module is not the paper's (a deep stem, squeeze-excitation)."""
    from ..models.googlenet import DeepStem

    if isinstance(module, DeepStem):
        return "deep stem (3x3/2, 3x3, 3x3)"
    return label + " + SE" if getattr(module, "se", None) is not None else label


def format_table1(table: list[dict], result: ModelSummary) -> str:
    rows = []
    for r in table:
        rows.append({
            **{k: r[k] for k in ("type", "patch size/stride", "output size", "depth", "#1x1", "#3x3 reduce",
                                 "#3x3", "#5x5 reduce", "#5x5", "pool proj")},
            "params": human(r["params"]) if r["params"] else "",
            "ops": human(r["ops"]) if r["ops"] else "",
            "paper params": human(r["paper params"]) if r["paper params"] else "",
            "paper ops": human(r["paper ops"]) if r["paper ops"] else "",
            "": "*" if r["differs"] else "",
        })
    for row in rows:
        for key, value in row.items():
            if value is None:
                row[key] = ""
    title = (f"{result.model}: Table 1 of Szegedy et al. 2014, measured at {result.input_size[1]}x"
             f"{result.input_size[2]} (ops = multiply-adds); * = measured differs from the paper's print by >5%")
    note = ("The printed table does not add up everywhere (conv1: 7x7x3x64 weights are 9.4K, not 2.7K; "
            "4c and 5a also differ); the model follows the layer definitions, not the printed totals.")
    return format_table(rows, title=title) + "\n" + note


def format_layers(result: ModelSummary, connections: bool) -> str:
    rows = []
    for r in result.rows:
        row = {
            "layer": r.name + (" (aux)" if r.auxiliary else ""),
            "type": r.type,
            "patch/stride": r.kernel,
            "output": "x".join(map(str, r.output_shape)) if r.output_shape else "-",
            "params": r.params,
            "mult-adds": r.macs,
        }
        if connections:
            row["connections"] = r.connections
        rows.append(row)
    return format_table(rows, title=f"{result.model} at {'x'.join(map(str, result.input_size))}")


def format_totals(result: ModelSummary, ref_params: int | None, ref_macs: float | None) -> str:
    lines = [f"total: {result.params:,} params, {result.macs / 1e9:.3f} G multiply-adds per image"]
    if result.aux_params:
        lines.append(f"  without auxiliary classifiers: {result.params_without_aux:,} params "
                     f"(aux heads: {result.aux_params:,} params, {result.aux_macs / 1e6:.1f} M multiply-adds, "
                     "training only)")
    if ref_params:
        lines.append(f"  reference: {ref_params:,} params" + (f", {ref_macs:.3g} G multiply-adds" if ref_macs else "")
                     + " (registry; default build at the native input size)")
    return "\n".join(lines)
