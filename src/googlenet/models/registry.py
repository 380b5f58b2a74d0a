"""One registry for every model: ``create_model(name, **kwargs)``, ``list_models()``, ``model_info(name)``.

Each model family registers its builders with :func:`register_model`, attaching the paper's facts
(year, native input, reference parameter count and multiply-adds, published accuracy and where it was
published). Model modules are discovered automatically: every module in :mod:`googlenet.models` is
imported on first use (but the infrastructure modules named in ``INFRASTRUCTURE``), so adding a
family means adding one file.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:  # the registry itself needs no torch: `googlenet --help` builds its parser without it
    from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    """What the papers say about a model. ``None`` means the paper gives no figure."""

    name: str
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)
    family: str
    paper: str
    year: int
    input_size: int  # native input side length, pixels
    params: int | None = None  # reference parameter count (default num_classes, no aux heads)
    macs: float | None = None  # reference multiply-adds at input_size, in units of 1e9
    top1: float | None = None  # published top-1 accuracy, percent
    top5: float | None = None  # published top-5 accuracy, percent
    accuracy_source: str = ""  # where top1/top5 come from
    dataset: str = "ImageNet"  # what top1/top5 were measured on
    task: str = "classification"  # or "segmentation"
    description: str = ""
    default_kwargs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("builder")
        return data


_REGISTRY: dict[str, ModelInfo] = {}
#: Modules of :mod:`googlenet.models` that hold no family (the families import them).
INFRASTRUCTURE = frozenset({"registry", "interface", "blocks", "spec", "cnn_spec", "outputs"})
_DISCOVERED = False


def register_model(name: str, **meta: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: ``@register_model("googlenet", family=..., paper=..., year=..., input_size=...)``."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise RuntimeError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(name=name, builder=builder, **meta)
        return builder

    return decorate


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    package = importlib.import_module(__package__)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_") and module.name not in INFRASTRUCTURE:
            importlib.import_module(f"{__package__}.{module.name}")


def list_models(pattern: str | None = None, task: str | None = None, *, family: str | None = None) -> list[str]:
    """Names of the registered models, as timm's ``list_models``.

    ``pattern``: a family name (``"inception"``) or a shell wildcard on model names (``"inception*"``,
    ``"resnet?8"``, :mod:`fnmatch`); a model is listed when its name or its family matches. ``family``,
    ``task``: only that family or task. Models with released weights: :func:`googlenet.list_pretrained`.
    """
    _discover()
    return [
        name
        for name, info in _REGISTRY.items()
        if (pattern is None or fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(info.family, pattern))
        and (family is None or info.family == family) and (task is None or info.task == task)
    ]


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; unknown names raise a :class:`UserError` with suggestions."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UserError(
            f"unknown model {name!r}: {hint}run `googlenet models` to list the {len(_REGISTRY)} models"
        ) from None


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build model ``name`` with the given keyword arguments (``num_classes``, ``in_channels``, ...), with
    fresh weights; ``googlenet.create_model(name, pretrained=True)`` loads released ones."""
    if "pretrained" in kwargs:
        raise UserError("pretrained= is an argument of googlenet.create_model (googlenet.weights.create_model), "
                        "which loads the weights; googlenet.models.create_model builds fresh networks")
    info = model_info(name)
    try:
        return info.builder(**{**info.default_kwargs, **kwargs})
    except TypeError as exc:  # an argument this builder does not take
        raise UserError(f"cannot build {name!r}: {exc}; see help(googlenet.create_model) for its options") from None


def count_parameters(name: str, **kwargs: Any) -> int:
    """Parameters of model ``name`` built with ``kwargs``, counted on the meta device: nothing is allocated,
    so it answers for models too large to build (``width=100``)."""
    import torch

    with torch.device("meta"):
        model = create_model(name, **kwargs)
    return sum(p.numel() for p in model.parameters())
