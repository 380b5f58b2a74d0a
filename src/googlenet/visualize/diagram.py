"""The architecture diagram: Figure 3 of the GoogLeNet paper, drawn from the real module graph.

Figure 3 draws GoogLeNet bottom-up as boxes -- "Conv 7x7+2(S)", "MaxPool 3x3+2(S)", "LocalRespNorm",
the nine inception modules with their four branches meeting in a "DepthConcat", the two auxiliary
classifiers branching off 4a and 4d, and the softmax outputs. Here the same picture is derived from any
model of the registry, so it can never disagree with the code:

* **Nodes** are the model's blocks: its children, with plain containers (``nn.Sequential``,
  ``nn.ModuleList``) opened up, so a VGG's ``features`` shows its convolutions and an Inception-v4's
  ``inception_a`` stage its four modules. Identity layers (a disabled LRN) and bare activations are left out.
* **Edges** are the real data flow, recorded by one forward pass on the ``meta`` device (shapes only, no
  arithmetic, no memory; so even VGG-19 costs nothing): every block's output tensor is remembered and an
  edge drawn from the block that produced each input of the next. A tensor made between blocks by a
  functional op (``torch.flatten``) is attributed to the block that ran last. The pass runs in training
  mode, so the auxiliary heads (section 5) run and appear where they tap the trunk. ``torch.fx`` cannot
  trace these models (their input checks branch on shapes), hence the forward pass.
* **Compact mode** draws each inception module as one box with its Table 1 numbers (#1x1, #3x3 reduce,
  #3x3, #5x5 reduce, #5x5, pool proj), read from the module's own convolutions; other Inception blocks
  (v2-v4, Inception-ResNet) list their branches. **Expanded mode** draws every branch as in Figure 3.

Graphviz (Debian's ``graphviz``, i.e. ``dot``) lays the graph out; the Python ``graphviz`` package
writes the DOT source. Colours follow Figure 3: convolutions blue, pools red, normalization and
concatenation green, classifiers yellow; auxiliary heads are drawn on an orange ground.
"""

from __future__ import annotations

import copy
import functools
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..inspect.tables import additions

MODES = ("compact", "expanded")
FORMATS = ("svg", "png", "pdf", "dot")
TABLE_1_COLUMNS = ("#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj")

# Figure 3's colours.
COLOURS = {
    "conv": "#c9daf8", "pool": "#f4cccc", "norm": "#d9ead3", "concat": "#d9ead3", "fc": "#fff2cc",
    "output": "#ffe599", "input": "#eeeeee", "block": "#e8e8f4", "inception": "#dfe8fb", "aux": "#fce5cd",
    "other": "#ffffff",
}

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Tanh, nn.Sigmoid, nn.PReLU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU,
                nn.Softmax, nn.LogSoftmax, nn.Hardswish)


@dataclass
class Node:
    """One box: a block of the model (``module``), the input, or an output."""

    id: str
    kind: str  # input, output, inception, mixed, aux, conv, pool, norm, fc, block, other
    module: nn.Module | None = None
    title: str = ""
    shape: tuple[int, ...] | None = None  # output shape without the batch dimension


@dataclass
class Diagram:
    """A model's block graph and its Graphviz rendering (``dot``: a :class:`graphviz.Digraph`)."""

    model_name: str
    mode: str
    nodes: list[Node]
    edges: list[tuple[str, str]]
    input_shape: tuple[int, ...]
    dot: Any = field(repr=False, default=None)
    traced: bool = True  # False: the forward pass failed and the blocks were chained in order

    @property
    def source(self) -> str:
        """The DOT source."""
        return self.dot.source

    def render(self, path: str | Path, formats: Sequence[str] = ("svg", "png")) -> list[Path]:
        """Write ``path`` with each format's suffix (``path.svg``, ``path.png``), atomically."""
        from ..system.files import atomic_write

        path = Path(path)
        base = path.with_suffix("") if path.suffix.lstrip(".") in FORMATS else path
        written = []
        for fmt in formats:
            if fmt not in FORMATS:
                raise UserError(f"unknown diagram format {fmt!r}; use one of {', '.join(FORMATS)}")
            data = self.source.encode() if fmt == "dot" else _pipe(self.dot, fmt)
            target = base.with_name(base.name + "." + fmt)
            written.append(atomic_write(target, lambda tmp, data=data: tmp.write_bytes(data)))
        return written


def _pipe(dot: Any, fmt: str) -> bytes:
    import graphviz

    try:
        return dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise UserError("Graphviz's `dot` program is not installed; install it with `sudo apt-get install "
                        "graphviz` (or `bash scripts/system_packages.sh`), or write the DOT source with "
                        "--format dot") from None


# ------------------------------------------------------------------------------------------- tracing


def _is_container(module: nn.Module) -> bool:
    # Exact types only: ConvBlock is an nn.Sequential subclass but is one box ("Conv 3x3+1(S)").
    return type(module) in _CONTAINERS


def blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules drawn as boxes: the children, with plain containers opened up, in registration order."""
    found: list[tuple[str, nn.Module]] = []

    def walk(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            path = f"{prefix}{name}"
            if _is_container(child) and len(child):
                walk(child, path + ".")
            else:
                found.append((path, child))

    walk(model, "")
    return found


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _first_conv(model: nn.Module) -> nn.Conv2d | None:
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def _skipped(module: nn.Module, mode: str) -> bool:
    if isinstance(module, nn.Identity):
        return True
    # LeNet-5's scaled tanh is an activation too (its Figure 2 does not draw it either).
    return mode == "compact" and (isinstance(module, _ACTIVATIONS) or type(module).__name__ == "ScaledTanh")


def _is_aux(name: str, model: nn.Module) -> bool:
    return name.split(".")[0] in getattr(model, "aux_head_names", list)()  # declared by the model (interface.py)


class _Tracer:
    """The hooks of one traced forward pass: a node per call of a chosen block, and an edge from the node
    that produced each of its input tensors (tensors are told apart by ``id()``)."""

    def __init__(self, model: nn.Module, mode: str) -> None:
        self.model, self.mode = model, mode
        self.nodes: dict[str, Node] = {}
        self.edges: list[tuple[str, str]] = []
        self.producer: dict[int, str] = {}
        self.keep: list[Tensor] = []  # holds every traced tensor alive so no id() is reused during the pass
        self.last = "input"
        self.calls: dict[str, int] = {}
        self.handles: list = []

    def source_of(self, t: Tensor) -> str:
        return self.producer.get(id(t), self.last)

    def hook(self, name: str, module: nn.Module) -> None:
        if _skipped(module, self.mode):  # not drawn: its outputs count as its input's
            self.handles.append(module.register_forward_hook(self._passthrough))
            return
        self.handles.append(module.register_forward_pre_hook(functools.partial(self._pre, name), with_kwargs=True))
        self.handles.append(module.register_forward_hook(self._post, with_kwargs=True))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def _passthrough(self, mod: nn.Module, args: Any, output: Any) -> None:  # noqa: ARG002
        ins = _tensors(args)
        src = self.source_of(ins[0]) if ins else self.last
        for t in _tensors(output):
            self.producer[id(t)] = src
            self.keep.append(t)

    def _pre(self, name: str, mod: nn.Module, args: Any, kwargs: Any) -> None:
        count = self.calls.get(name, 0)
        self.calls[name] = count + 1
        node_id = name if count == 0 else f"{name}#{count + 1}"
        mod._diagram_node = node_id
        kind = "aux" if _is_aux(name, self.model) else _kind(mod)
        self.nodes[node_id] = Node(node_id, kind, mod, name)
        for t in _tensors((args, kwargs)):
            edge = (self.source_of(t), node_id)
            if edge not in self.edges:
                self.edges.append(edge)

    def _post(self, mod: nn.Module, args: Any, kwargs: Any, output: Any) -> None:  # noqa: ARG002
        node_id = mod._diagram_node
        outs = _tensors(output)
        for t in outs:
            self.producer[id(t)] = node_id
            self.keep.append(t)
        if outs:
            self.nodes[node_id].shape = tuple(outs[0].shape[1:])
        self.last = node_id

    def graph(self, input_shape: Sequence[int], out: Any) -> tuple[list[Node], list[tuple[str, str]]]:
        """The input node, the traced nodes and a node per output (named by the output's fields), with edges."""
        result = [Node("input", "input", None, "input", tuple(input_shape))] + list(self.nodes.values())
        fields = getattr(out, "_fields", None)
        for index, t in enumerate(_tensors(out)):
            label = fields[index] if fields and index < len(fields) else ("output" if index == 0 else f"output{index}")
            node_id = f"out_{label}"
            result.append(Node(node_id, "output", None, label, tuple(t.shape[1:])))
            self.edges.append((self.source_of(t), node_id))
        return result, self.edges


def trace(
    model: nn.Module, input_shape: Sequence[int], mode: str = "compact"
) -> tuple[list[Node], list[tuple[str, str]]]:
    """Nodes and edges of ``model`` from one forward pass of a (2, *input_shape) batch on ``model``'s device.

    Two images, not one, so batch norm in training mode has more than one value per channel.
    """
    chosen = blocks(model)
    tracer = _Tracer(model, mode)
    for name, module in chosen:
        tracer.hook(name, module)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros(2, *input_shape, device=device)
    tracer.producer[id(x)] = "input"
    was_training = model.training
    try:
        model.train()  # the auxiliary classifiers run only in training mode (section 5)
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was_training)
        tracer.remove()
        for _, module in chosen:
            module.__dict__.pop("_diagram_node", None)
    return tracer.graph(input_shape, out)


def _sequential_fallback(model: nn.Module, input_shape: Sequence[int], mode: str) -> tuple[list[Node], list]:
    """The blocks chained in registration order: for a model whose forward pass cannot be traced."""
    nodes = [Node("input", "input", None, "input", tuple(input_shape))]
    for name, module in blocks(model):
        if not _skipped(module, mode):
            nodes.append(Node(name, "aux" if _is_aux(name, model) else _kind(module), module, name))
    edges = [(a.id, b.id) for a, b in zip(nodes, nodes[1:], strict=False) if b.kind != "aux"]
    return nodes, edges


# ------------------------------------------------------------------------------------------- labels


def _kind(module: nn.Module) -> str:
    from ..models.blocks import ConvBlock, GridReduction, ScaledResidual
    from ..models.googlenet import InceptionModule
    from ..models.spec import MixedBlock

    if isinstance(module, InceptionModule):
        return "inception"
    if isinstance(module, (MixedBlock, GridReduction, ScaledResidual)):
        return "mixed"
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, ConvBlock)):
        return "conv"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return "pool"
    if isinstance(module, (nn.LocalResponseNorm, nn.BatchNorm2d, nn.BatchNorm1d)):
        return "norm"
    if isinstance(module, nn.Linear):
        return "fc"
    if isinstance(module, (nn.Dropout, nn.Dropout2d, nn.Flatten) + _ACTIVATIONS):
        return "other"
    return "block"


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _kxk(k: Any) -> str:
    kh, kw = _pair(k)
    return f"{kh}x{kw}"


def _stride_text(s: Any) -> str:
    sh, sw = _pair(s)
    return str(sh) if sh == sw else f"{sh}x{sw}"


def _same_or_valid(kernel: Any, padding: Any, ceil_mode: bool = False) -> str:
    """Figure 3's "(S)" for same padding, "(V)" for valid. A ceil-mode pool keeps the border like (S)."""
    if padding == "same" or ceil_mode:
        return "S"
    if padding == "valid":
        return "V"
    kh, kw = _pair(kernel)
    ph, pw = _pair(padding)
    return "S" if (ph, pw) == (kh // 2, kw // 2) else ("V" if (ph, pw) == (0, 0) else f"P{ph}")


def conv_text(conv: nn.Module, channels: bool = True) -> str:
    """``Conv 7x7+2(S) 64`` as in Figure 3 (kernel + stride, padding), with the output channels."""
    if isinstance(conv, nn.Sequential) and not isinstance(conv, nn.Conv2d):  # ConvBlock
        conv = next(m for m in conv.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    kind = "Deconv" if isinstance(conv, nn.ConvTranspose2d) else ("DWConv" if conv.groups > 1 else "Conv")
    padding = _same_or_valid(conv.kernel_size, conv.padding)
    text = f"{kind} {_kxk(conv.kernel_size)}+{_stride_text(conv.stride)}({padding})"
    return f"{text} {conv.out_channels}" if channels else text


def pool_text(pool: nn.Module) -> str:
    if isinstance(pool, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = pool.output_size
        kind = "AveragePool" if isinstance(pool, nn.AdaptiveAvgPool2d) else "MaxPool"
        return f"{kind} global" if size in (1, (1, 1)) else f"Adaptive{kind} to {_kxk(size)}"
    kind = "MaxPool" if isinstance(pool, nn.MaxPool2d) else "AveragePool"
    return (f"{kind} {_kxk(pool.kernel_size)}+{_stride_text(pool.stride or pool.kernel_size)}"
            f"({_same_or_valid(pool.kernel_size, pool.padding, getattr(pool, 'ceil_mode', False))})")


def leaf_text(module: nn.Module) -> str | None:
    """Figure 3's text for a single layer, or None for layers it does not draw."""
    from ..models.blocks import ConvBlock

    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, ConvBlock)):
        return conv_text(module)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return pool_text(module)
    if isinstance(module, nn.LocalResponseNorm):
        return "LocalRespNorm"
    if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        return "BatchNorm"
    if isinstance(module, nn.Linear):
        return f"FC {module.out_features}"
    if isinstance(module, (nn.Dropout, nn.Dropout2d)):
        return f"Dropout {module.p:g}"
    if isinstance(module, nn.Flatten):
        return "Flatten"
    if isinstance(module, _ACTIVATIONS):
        return type(module).__name__
    return None


def _block_lines(module: nn.Module, limit: int = 6) -> list[str]:
    """A custom block's layers (convolutions, pools, FCs) in registration order, at most ``limit`` lines."""
    from ..models.blocks import ConvBlock

    lines: list[str] = []
    pool_note = _functional_pool_note(module)
    if pool_note:
        lines.append(pool_note)

    def walk(m: nn.Module) -> None:
        for child in m.children():
            if isinstance(child, (ConvBlock, nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d,
                                  nn.AdaptiveAvgPool2d, nn.MaxUnpool2d)):
                lines.append(leaf_text(child) or type(child).__name__)
            elif not isinstance(child, (nn.Identity, nn.Dropout, nn.Dropout2d, nn.BatchNorm2d) + _ACTIVATIONS):
                walk(child)

    walk(module)
    if not lines and sum(1 for _ in module.children()) == 0:
        return []
    return lines[:limit] + (["..."] if len(lines) > limit else [])


def _functional_pool_note(module: nn.Module) -> str | None:
    # The auxiliary classifiers pool with F.avg_pool2d, which is not a module and so not in the graph:
    # GoogLeNet section 5's "average pooling layer with 5x5 filter size and stride 3".
    if hasattr(module, "paper_pool"):
        return "AveragePool 5x5+3(V)" if module.paper_pool else "AdaptiveAvgPool to 4x4"
    if type(module).__name__ == "InceptionAux":
        return "AveragePool 5x5+3(V)"
    return None


def table1_numbers(module: nn.Module) -> dict[str, int]:
    """An inception module's Table 1 columns, read from its convolutions' output channels."""
    def convs(branch: nn.Module) -> list[nn.Conv2d]:
        return [m for m in branch.modules() if isinstance(m, nn.Conv2d)]

    b1, b2, b3, b4 = (convs(getattr(module, f"branch{i}")) for i in range(1, 5))
    values = (b1[0], b2[0], b2[1], b3[0], b3[1], b4[-1])
    return {col: conv.out_channels for col, conv in zip(TABLE_1_COLUMNS, values, strict=True)}


def branch_steps(module: nn.Module) -> list[list[str]] | None:
    """The branches of an inception-style block as lists of step labels, or None for other blocks."""
    from ..models.blocks import ConvBlock, GridReduction, ScaledResidual
    from ..models.googlenet import InceptionModule
    from ..models.spec import MixedBlock

    def steps(branch: nn.Module) -> list[str]:
        if isinstance(branch, ConvBlock) or not isinstance(branch, nn.Sequential):
            return [leaf_text(branch) or type(branch).__name__]
        return [leaf_text(m) or type(m).__name__ for m in branch.children()]

    if isinstance(module, InceptionModule):
        return [steps(getattr(module, f"branch{i}")) for i in range(1, 5)]
    if isinstance(module, MixedBlock):
        rows = []
        for plan in getattr(module, "_plans", []):
            row = []
            for step in plan:
                if isinstance(step, tuple):  # Rethinking..., Figure 7: parallel 1x3 and 3x1, concatenated
                    row.append(" | ".join(conv_text(module._modules[n]) for n in step))
                else:
                    row.append(leaf_text(module._modules[step]) or step)
            rows.append(row)
        return rows
    if isinstance(module, GridReduction):
        return [steps(b) for b in module.branches] + [[leaf_text(module.pool) or "pool"]]
    if isinstance(module, ScaledResidual) and hasattr(module.residual, "branches"):
        return branch_steps(module.residual.branches)
    return None


def _residual_tail(module: nn.Module) -> list[str]:
    """Inception-ResNet (v4 paper, section 3.3): concat -> 1x1 linear projection -> x scale -> + input."""
    up = getattr(module.residual, "up", None)
    return ([conv_text(up) + " (linear)"] if up is not None else []) + [f"x {module.scale:g}"]


def _shape_text(shape: tuple[int, ...] | None) -> str:
    from ..system.text import shape_text  # H x W x C, as the paper's tables (and summary, report) write it

    return shape_text(shape) if shape else ""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _html_box(title: str, lines: Iterable[str], subtitle: str = "") -> str:
    rows = "".join(f'<TR><TD ALIGN="LEFT">{_esc(line)}</TD></TR>' for line in lines)
    sub = f'<TR><TD><FONT POINT-SIZE="9">{_esc(subtitle)}</FONT></TD></TR>' if subtitle else ""
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0"><TR><TD><B>{_esc(title)}</B></TD></TR>'
            f"{rows}{sub}</TABLE>>")


def _table1_box(title: str, numbers: dict[str, int], out_channels: int, shape_text: str) -> str:
    head = "".join(f'<TD><FONT POINT-SIZE="9">{_esc(c)}</FONT></TD>' for c in numbers)
    vals = "".join(f"<TD>{v}</TD>" for v in numbers.values())
    sub = f"{out_channels} channels" + (f", {shape_text}" if shape_text else "")
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
            f'<TR><TD COLSPAN="{len(numbers)}" BORDER="0"><B>{_esc(title)}</B></TD></TR>'
            f"<TR>{head}</TR><TR>{vals}</TR>"
            f'<TR><TD COLSPAN="{len(numbers)}" BORDER="0"><FONT POINT-SIZE="9">{_esc(sub)}</FONT></TD></TR></TABLE>>')


# ------------------------------------------------------------------------------------------- drawing


def _model_and_name(model: nn.Module | str, model_kwargs: dict[str, Any]) -> tuple[nn.Module, str, int | None]:
    """A model to trace on the meta device (never the caller's own module), its name and native size."""
    if isinstance(model, str):
        from ..models.registry import create_model, model_info

        info = model_info(model)
        try:
            with torch.device("meta"):  # build without allocating or initialising any weight
                built = create_model(model, **model_kwargs)
        except Exception:  # a builder that cannot run on meta: build it for real (still no forward cost)
            built = create_model(model, **model_kwargs)
        return built, model, info.input_size
    name = getattr(model, "model_name", None) or type(model).__name__
    if hasattr(model, "model") and isinstance(model.model, nn.Module):  # a LoadedModel
        name, model = model.model_name, model.model
    try:
        traced = copy.deepcopy(model).to("meta")
    except Exception:
        traced = copy.deepcopy(model)
    return traced, name, None


def build_diagram(
    model: nn.Module | str,
    *,
    mode: str = "compact",
    input_size: int | None = None,
    shapes: bool = True,
    rankdir: str = "TB",
    **model_kwargs: Any,
) -> Diagram:
    """The block graph of ``model`` (a registry name, a module, or a loaded model file) as a Graphviz graph.

    Args:
        mode: ``compact`` (one box per inception module, with its Table 1 numbers) or ``expanded``
            (every branch, as in Figure 3).
        input_size: image side for the forward pass (default: the model's native size; 32 with
            ``small_input=True``).
        shapes: write each block's output shape in its box (H x W x C, as Table 1's "output size").
        rankdir: ``TB`` (input at the top) or ``BT`` (input at the bottom, as Figure 3 is printed).
        model_kwargs: builder arguments when ``model`` is a name (``small_input=True``, ``width=0.5``...).
    """
    import graphviz

    if mode not in MODES:
        raise UserError(f"unknown diagram mode {mode!r}; use compact or expanded")
    if rankdir not in ("TB", "BT", "LR", "RL"):
        raise UserError(f"rankdir must be TB, BT, LR or RL, got {rankdir!r}")
    module, name, native = _model_and_name(model, model_kwargs)
    if input_size is None:
        small = model_kwargs.get("small_input", getattr(module, "small_input", False))
        input_size = 32 if small else (native or 224)
    conv = _first_conv(module)
    channels = int(getattr(module, "in_channels", 0) or (conv.in_channels if conv is not None else 3))
    input_shape = (channels, input_size, input_size)
    traced = True
    try:
        nodes, edges = trace(module, input_shape, mode)
    except UserError:
        raise
    except Exception:  # an op without a meta kernel, or a forward that needs more than an image
        nodes, edges = _sequential_fallback(module, input_shape, mode)
        traced = False

    dot = graphviz.Digraph(name=name, graph_attr={
        "rankdir": rankdir, "fontname": "Helvetica", "labelloc": "t", "nodesep": "0.25", "ranksep": "0.3",
        "label": f"{name} ({mode}; input {_shape_text(input_shape)})" + "".join(
            f"; beyond the paper: {'; '.join(extra)}" for extra in [additions(module)] if extra),
        "ordering": "out",  # branches left to right in concatenation order, as in Figure 3
    }, node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8", "color": "#555555"})
    entry: dict[str, list[str]] = {}  # where edges into a node land (an expanded module's branch heads)
    exit_: dict[str, str] = {}  # where edges out of a node leave (its DepthConcat)
    shortcut: dict[str, str] = {}  # Inception-ResNet: the node that adds the shortcut
    for node in nodes:
        _draw_node(dot, node, mode, entry, exit_, shortcut, shapes)
    _draw_edges(dot, nodes, edges, entry, exit_, shortcut)
    return Diagram(name, mode, nodes, edges, input_shape, dot, traced)


def _draw_edges(dot: Any, nodes: list[Node], edges: list[tuple[str, str]], entry: dict, exit_: dict,
                shortcut: dict) -> None:
    by_id = {n.id: n for n in nodes}
    to_aux = [by_id.get(dst) is not None and by_id[dst].kind == "aux" for _, dst in edges]
    # The trunk's edges first and heavy, the aux heads' after: with ordering=out the heads go to the right
    # and the trunk stays one straight column (section 5's classifiers are side branches).
    for (src, dst), aux in sorted(zip(edges, to_aux, strict=True), key=lambda pair: pair[1]):
        style = {"style": "dashed"} if aux else {"weight": "10"}
        for head in entry.get(dst, [dst]):
            dot.edge(exit_.get(src, src), head, **style)
        if dst in shortcut:
            dot.edge(exit_.get(src, src), shortcut[dst], style="dotted", label="shortcut")


def _draw_node(dot: Any, node: Node, mode: str, entry: dict, exit_: dict, shortcut: dict, shapes: bool) -> None:
    from ..models.blocks import ScaledResidual
    from ..models.googlenet import InceptionModule

    m = node.module
    shape_text = _shape_text(node.shape) if shapes else ""
    common = {"id": f"node_{node.id}"}
    if node.kind == "input":
        dot.node(node.id, f"input\n{shape_text}", fillcolor=COLOURS["input"], shape="box", **{"class": "input"},
                 **common)
        return
    if node.kind == "output":
        # Figure 3's "softmax0/1/2": the classifier outputs, main and auxiliary.
        dot.node(node.id, f"softmax ({node.title})\n{shape_text}", fillcolor=COLOURS["output"],
                 **{"class": "output"}, **common)
        return
    steps = branch_steps(m) if m is not None else None
    if mode == "expanded" and steps:
        _draw_expanded(dot, node, steps, entry, exit_, shortcut)
        return
    if isinstance(m, InceptionModule):
        numbers = table1_numbers(m)
        # squeeze-excitation (beyond the paper) on the module's output
        title = node.title + (" + SE" if getattr(m, "se", None) is not None else "")
        label = _table1_box(title, numbers, m.out_channels, shape_text)
        dot.node(node.id, label, fillcolor=COLOURS["inception"], **{"class": "inception"}, **common)
        return
    if steps:
        lines = [" -> ".join(row) for row in steps]
        if isinstance(m, ScaledResidual):
            lines.append("concat -> " + " -> ".join(_residual_tail(m)) + " -> + input")
        dot.node(node.id, _html_box(f"{node.title} ({type(m).__name__})", lines, shape_text),
                 fillcolor=COLOURS["inception"], **{"class": "mixed"}, **common)
        return
    text = leaf_text(m) if m is not None else None
    kind = "aux" if node.kind == "aux" else node.kind
    fill = COLOURS.get(kind, COLOURS["other"])
    if text is not None:
        dot.node(node.id, _html_box(text, [], f"{node.title}  {shape_text}".strip()), fillcolor=fill,
                 **{"class": kind}, **common)
        return
    title = f"{node.title} ({type(m).__name__})"
    if kind == "aux":
        title = f"{node.title}: auxiliary classifier"
    dot.node(node.id, _html_box(title, _block_lines(m), shape_text), fillcolor=fill, **{"class": kind}, **common)


def _draw_expanded(dot: Any, node: Node, steps: list[list[str]], entry: dict, exit_: dict, shortcut: dict) -> None:
    """Figure 3's drawing of one module: its branches side by side, meeting in a DepthConcat."""
    from ..models.blocks import ScaledResidual

    m = node.module
    kind = "inception" if node.kind == "inception" else "mixed"
    with dot.subgraph(name=f"cluster_{node.id}") as sub:
        # The module's name is written in its DepthConcat box, not as the cluster's label, which the edges
        # fanning out of the previous module (and to the aux heads) would cross wherever it sat.
        sub.attr(label="", style="rounded,dashed", color="#888888", **{"class": kind})
        concat = f"{node.id}/concat"
        heads, rows = _draw_branches(sub, node.id, steps, concat)
        for row in rows:  # one rank per row, left to right in concatenation order (Figure 2(b))
            if len(row) > 1:
                with sub.subgraph() as same:
                    same.attr(rank="same")
                    for left, right in zip(row, row[1:], strict=False):
                        same.edge(left, right, style="invis")
        sub.node(concat, _html_box(f"DepthConcat ({node.title})", [], _shape_text(node.shape)),
                 fillcolor=COLOURS["concat"])
        out = concat
        if getattr(m, "se", None) is not None:  # squeeze-excitation on the output (beyond the paper; Hu et al. 2018)
            se = f"{node.id}/se"
            sub.node(se, f"squeeze-excitation ({m.se.fc1.out_channels} of {m.se.fc1.in_channels})",
                     fillcolor=COLOURS["other"])
            sub.edge(out, se)
            out = se
        if isinstance(m, ScaledResidual):
            for i, text in enumerate(_residual_tail(m)):
                step_id = f"{node.id}/tail{i}"
                sub.node(step_id, text, fillcolor=COLOURS["conv"] if "Conv" in text else COLOURS["other"])
                sub.edge(out, step_id)
                out = step_id
            add = f"{node.id}/add"
            sub.node(add, "+ (ReLU)" if not isinstance(m.activation, nn.Identity) else "+", shape="circle",
                     fillcolor=COLOURS["concat"])
            sub.edge(out, add)
            out = add
            shortcut[node.id] = add
    entry[node.id] = heads
    exit_[node.id] = out


def _draw_branches(sub: Any, node_id: str, steps: list[list[str]], concat: str) -> tuple[list[str], list[list[str]]]:
    """The branches' boxes, bottom-aligned so every branch's last layer sits on one row (Figure 2(b)'s
    1x1 beside the 3x3 and the 5x5). Returns each branch's first box and the boxes of each row."""
    depth = max(len(row) for row in steps)
    heads: list[str] = []
    rows: list[list[str]] = [[] for _ in range(depth)]
    for b, row in enumerate(steps):
        previous = None
        for s, text in enumerate(row):
            step_id = f"{node_id}/b{b}s{s}"
            fill = COLOURS["pool"] if "Pool" in text else COLOURS["conv"]
            sub.node(step_id, text, fillcolor=fill)
            rows[depth - len(row) + s].append(step_id)
            if previous is None:
                heads.append(step_id)
            else:
                sub.edge(previous, step_id)
            previous = step_id
        if previous is not None:
            sub.edge(previous, concat)
    return heads, rows


def render_diagram(
    model: nn.Module | str,
    out: str | Path,
    *,
    formats: Sequence[str] = ("svg", "png"),
    mode: str = "compact",
    **kwargs: Any,
) -> list[Path]:
    """Build the diagram of ``model`` and write it as ``out.svg``, ``out.png`` ... Returns the paths."""
    return build_diagram(model, mode=mode, **kwargs).render(out, formats)
