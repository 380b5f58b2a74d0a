"""Compare every registered model: parameters and multiply-adds measured from the real modules, the
published accuracy with its source, optionally CPU throughput measured now, and the accuracy / cost
bubble chart of the model zoos.

Measurement is cheap: each model is built once on the ``meta`` device (no memory, no initialisation)
and one forward pass at its native input runs under :class:`torch.utils.flop_counter.FlopCounterMode`,
which counts 2 FLOPs per multiply-add of every convolution and matrix product. A model that cannot run
on ``meta`` is measured on the CPU under ``no_grad`` instead. Works for any model in the registry,
whichever branch or plugin registered it.

Parameters are those the inference forward pass uses: modules that never run in eval mode (GoogLeNet's
and Inception v3's auxiliary classifiers) are not counted, so the figures match the papers' tables;
``params_total`` counts everything.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import UserError
from ..models.registry import list_models, model_info


@dataclass
class Comparison:
    """One model's row. ``params``/``macs`` are measured; ``ref_*`` are the registry's published figures."""

    name: str
    family: str
    task: str
    year: int
    input_size: int
    in_channels: int | None
    params: int | None  # used by the eval forward pass
    params_total: int | None
    macs: int | None  # multiply-adds for one image at input_size
    ref_params: int | None
    ref_macs: float | None  # 1e9 multiply-adds
    top1: float | None
    top5: float | None
    dataset: str
    accuracy_source: str
    images_per_s: float | None = None
    measured_on: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _first_conv_channels(model: nn.Module) -> int | None:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Conv1d)):
            return m.in_channels
    return None


def _inference_params(model: nn.Module, called: set[int]) -> int:
    """Parameters of the modules that ran (and of parameter containers inside them)."""

    def ran(module: nn.Module) -> bool:
        return id(module) in called or any(id(m) in called for m in module.modules())

    def count(module: nn.Module) -> int:
        if not ran(module) and not isinstance(module, (nn.ParameterList, nn.ParameterDict)):
            return 0
        own = sum(p.numel() for p in module.parameters(recurse=False))
        return own + sum(count(child) for child in module.children())

    return count(model)


def measure(name: str, *, input_size: int | None = None, device: str = "meta") -> tuple[int, int, int, int]:
    """``(params used in eval, all params, multiply-adds, in_channels)`` of model ``name`` at one image of
    ``input_size`` (default: its native size), measured from the modules on ``device``."""
    info = model_info(name)
    size = input_size or info.input_size
    with torch.device(device):
        model = info.builder(**info.default_kwargs)
    model.eval()
    in_channels = getattr(model, "in_channels", None) or _first_conv_channels(model) or 3
    called: set[int] = set()
    handles = [m.register_forward_pre_hook(lambda mod, args: called.add(id(mod))) for m in model.modules()]
    x = torch.zeros(1, in_channels, size, size, device=device)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for h in handles:
            h.remove()
    total = sum(p.numel() for p in model.parameters())
    return _inference_params(model, called), total, counter.get_total_flops() // 2, in_channels


def throughput(name: str, *, batch_size: int = 8, seconds: float = 2.0, input_size: int | None = None,
               threads: int | None = None) -> float:
    """CPU images per second of model ``name`` in eval mode at its native input, measured now with
    ``threads`` intra-op threads (default: torch's current setting)."""
    if batch_size < 1 or seconds <= 0:
        raise UserError(f"batch size must be >= 1 and seconds > 0, got {batch_size} and {seconds}; "
                        "e.g. --batch-size 8 --seconds 2")
    if threads is not None and threads < 1:
        raise UserError(f"threads must be at least 1, got {threads}; e.g. --threads 1")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _throughput(name, batch_size, seconds, input_size)
    finally:
        torch.set_num_threads(previous)


def _throughput(name: str, batch_size: int, seconds: float, input_size: int | None) -> float:
    info = model_info(name)
    model = info.builder(**info.default_kwargs).eval()
    in_channels = getattr(model, "in_channels", None) or _first_conv_channels(model) or 3
    size = input_size or info.input_size
    x = torch.randn(batch_size, in_channels, size, size)
    with torch.inference_mode():
        model(x)  # warm-up: allocations, kernel selection
        runs, start = 0, time.perf_counter()
        while True:
            model(x)
            runs += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and runs >= 2:
                break
    return runs * batch_size / elapsed


def compare(
    names: Iterable[str] | None = None, *, family: str | None = None, task: str | None = None,
    measure_speed: bool = False, batch_size: int = 8, seconds: float = 2.0, threads: int | None = None,
) -> list[Comparison]:
    """One :class:`Comparison` per model (default: every registered model, in registry order).

    A model that fails to build or run gets a row with ``error`` set instead of stopping the comparison.
    """
    selected = list(names) if names else list_models(family=family, task=task)
    for name in selected:
        model_info(name)  # unknown names fail early, with suggestions
    rows = []
    for name in selected:
        info = model_info(name)
        row = Comparison(
            name=name, family=info.family, task=info.task, year=info.year, input_size=info.input_size,
            in_channels=None, params=None, params_total=None, macs=None, ref_params=info.params,
            ref_macs=info.macs, top1=info.top1, top5=info.top5, dataset=info.dataset,
            accuracy_source=info.accuracy_source,
        )
        for device in ("meta", "cpu"):
            try:
                row.params, row.params_total, row.macs, row.in_channels = measure(name, device=device)
                row.measured_on, row.error = device, ""
                break
            except Exception as exc:  # noqa: BLE001 -- one broken model must not hide the others
                row.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if measure_speed and not row.error:
            row.images_per_s = throughput(name, batch_size=batch_size, seconds=seconds, threads=threads)
        rows.append(row)
    return rows


def short_source(text: str, width: int = 40) -> str:
    """The accuracy source's citation only ("paper Table 2", "torchvision ResNet18_Weights.IMAGENET1K_V1"),
    for a table a terminal can show; the full text stays in ``accuracy_source`` (``--json``)."""
    cut = min((i for i in (text.find(": "), text.find(" (")) if i > 0), default=len(text))
    short = re.sub(r"(_Weights)\.\S+", r"\1", text[:cut].strip())  # torchvision's enum: the class names it
    return short if len(short) <= width else short[: width - 3].rstrip() + "..."


def table_rows(rows: Sequence[Comparison], *, speed: bool = False) -> list[dict[str, Any]]:
    """The rows of ``googlenet compare``'s table: parameters in M and multiply-adds in G throughout (one
    unit per column, so lenet5's 0.000326 sits under AlexNet's 0.724), the source shortened."""
    from ..system.text import in_unit

    table = []
    for r in rows:
        row: dict[str, Any] = {
            "model": r.name, "year": r.year, "input": r.input_size,
            "params (M)": in_unit(r.params, "M"), "ref (M)": in_unit(r.ref_params, "M"),
            "mult-adds (G)": in_unit(r.macs, "G"), "ref (G)": in_unit(r.ref_macs * 1e9 if r.ref_macs else None, "G"),
            "top-1": r.top1, "top-5": r.top5, "dataset": r.dataset,
        }
        if speed:
            row["img/s"] = round(r.images_per_s, 1) if r.images_per_s else None
        row["source"] = f"ERROR {r.error}" if r.error else short_source(r.accuracy_source)
        table.append(row)
    return table


# Bubble area (points^2) of the largest model; small enough that VGG's bubbles do not cover their neighbours.
_BIGGEST_AREA = 900.0


def _area(params: float, biggest: float) -> float:
    return 25 + _BIGGEST_AREA * params / biggest


def draw_zoo(rows: Sequence[Comparison], *, title: str | None = None) -> Any:
    """The accuracy / multiply-adds figure (matplotlib ``Figure``, two panels: top-1 and top-5) of the
    ImageNet classifiers with a published accuracy; labels placed by adjustText so none overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r for r in rows if r.dataset == "ImageNet" and r.macs and r.params and (r.top1 or r.top5)]
    if not points:
        raise UserError("no model with a published ImageNet accuracy to plot; include e.g. resnet50 or vgg16")
    families = sorted({r.family for r in points})
    colours = {f: plt.get_cmap("tab10")(i % 10) for i, f in enumerate(families)}
    biggest = max(r.params for r in points)
    fig, axes = plt.subplots(1, 2, figsize=(15, 7.5), sharex=True, layout="constrained")
    for ax, metric in zip(axes, ("top1", "top5"), strict=True):
        _zoo_panel(ax, [r for r in points if getattr(r, metric) is not None], metric, colours, biggest)
    handles = [plt.Line2D([], [], marker="o", ls="", markersize=9, color=colours[f], label=f) for f in families]
    for params in (1e6, 10e6, 100e6):
        handles.append(plt.scatter([], [], s=_area(params, biggest), color="grey", alpha=0.4, edgecolors="black",
                                   linewidths=0.5, label=f"{params / 1e6:g}M params"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=10, frameon=False,
               title="family (colour) and parameters (bubble area)", title_fontsize=10)
    fig.suptitle(title or "Accuracy against computation; bubble area = parameters", fontsize=13)
    return fig


def _zoo_panel(ax: Any, points: Sequence[Comparison], metric: str, colours: dict, biggest: float) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    # Largest bubbles at the back and most transparent, so small models stay visible in front of VGG's.
    for z, r in enumerate(sorted(points, key=lambda r: -r.params)):
        ax.scatter(r.macs / 1e9, getattr(r, metric), s=_area(r.params, biggest), color=colours[r.family],
                   alpha=0.75 - 0.4 * r.params / biggest, edgecolors="black", linewidths=0.5, zorder=2 + z)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("multiply-adds per image at native input (G, measured; log scale)", fontsize=11)
    ax.set_ylabel(f"published ImageNet {'top-1' if metric == 'top1' else 'top-5'} accuracy (%)", fontsize=11)
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    ax.margins(x=0.08, y=0.08)
    xs, ys = [r.macs / 1e9 for r in points], [getattr(r, metric) for r in points]
    texts = [ax.text(x, y, r.name, fontsize=9, ha="center", va="center", zorder=100,
                     bbox={"boxstyle": "square,pad=0.05", "facecolor": "white", "edgecolor": "none", "alpha": 0.6})
             for x, y, r in zip(xs, ys, points, strict=True)]
    place_labels(ax, texts, xs, ys)


def place_labels(ax: Any, texts: list, xs: Sequence[float], ys: Sequence[float]) -> None:
    """Move ``texts`` apart, and off the points (``xs``, ``ys``), with adjustText; leader lines lead back."""
    try:
        from adjustText import adjust_text
    except ImportError:
        raise UserError("the zoo chart places its labels with adjustText; install it with "
                        "`pip install adjustText` (or googlenet[vis])") from None
    ax.figure.canvas.draw()  # adjustText measures the texts with the renderer
    # An iteration bound, not a time one, so a busy machine places the labels as well as an idle one.
    adjust_text(texts, x=list(xs), y=list(ys), ax=ax, expand=(1.15, 1.4), force_text=(0.3, 0.6), iter_lim=1000,
                arrowprops={"arrowstyle": "-", "color": "#555555", "lw": 0.6, "zorder": 99})


def plot(rows: Sequence[Comparison], path: str | Path, *, title: str | None = None) -> list[Path]:
    """Accuracy against multiply-adds, bubble area proportional to parameters (ImageNet classifiers with
    a published accuracy; :func:`draw_zoo`). Writes ``<path>.png`` and ``<path>.svg``; returns their paths."""
    import matplotlib.pyplot as plt

    from ..system.files import atomic_write

    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix.lower() in (".png", ".svg", ".pdf") else stem
    if not stem.parent.is_dir():
        raise UserError(f"cannot write the chart: folder {str(stem.parent)!r} does not exist; create it first")
    fig = draw_zoo(rows, title=title)
    out = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    try:
        for p in out:
            atomic_write(p, lambda tmp, fmt=p.suffix[1:]: fig.savefig(tmp, format=fmt, dpi=100))
    finally:
        plt.close(fig)
    return out
