"""torchvision ``.pth`` weights into the registry's torchvision-compatible models.

These registry models have torchvision's state_dict keys and shapes, checked in the tests against
``torchvision.models`` itself, so torchvision's files load into them as they are.

torchvision builds ``googlenet`` and ``inception_v3`` with ``transform_input=True`` when it loads its
released weights (they were trained on inputs normalized to [-1, 1]); an import does the same, so the
imported model reads the usual ImageNet-normalized input and computes what torchvision's model does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..data.imagenet import class_names_for, rgb_preprocessing
from ..errors import DataError, UserError
from ._state import (
    Candidate,
    ImportedWeights,
    NotAFit,
    aux_prefixes,
    best_fit,
    describe,
    fit,
    read_state_dict,
)

#: Registry model -> torchvision model of the same keys and shapes.
TORCHVISION_MODELS: dict[str, str] = {
    "alexnet_torchvision": "alexnet",
    "googlenet_torchvision": "googlenet",
    "inception_v3": "inception_v3",
    **{f"resnet{d}": f"resnet{d}" for d in (18, 34, 50, 101, 152)},
    "squeezenet1_0": "squeezenet1_0",
    "squeezenet1_1": "squeezenet1_1",
    **{f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
}
#: What torchvision's builders set when they load released weights (see the module docstring).
WEIGHTS_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet_torchvision": {"transform_input": True},
    "inception_v3": {"transform_input": True},
}
#: (crop, resize) of torchvision's ImageClassification transform for each model's weights.
EVAL_SIZES: dict[str, tuple[int, int]] = {"inception_v3": (299, 342)}


def candidates() -> list[Candidate]:
    return [Candidate(name, "torchvision") for name in TORCHVISION_MODELS]


def registry_name(name: str) -> str:
    """Our registry name for a registry or torchvision model name (``googlenet`` -> ``googlenet_torchvision``)."""
    if name in TORCHVISION_MODELS:
        return name
    for ours, theirs in TORCHVISION_MODELS.items():
        if theirs == name:
            return ours
    raise UserError(f"{name!r} has no torchvision-compatible model in the registry; choose one of "
                    f"{', '.join(TORCHVISION_MODELS)}")


def load_torchvision_state(model: nn.Module, state: Mapping[str, Tensor], *, strict: bool | None = None,
                           source: str = "the state_dict") -> nn.Module:
    """Load a torchvision state_dict into ``model`` (a torchvision-compatible registry model).

    Every key must match, except that with ``strict=None`` the auxiliary classifiers may be absent
    from the file (they are then left as built).
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    aux_only = all(k.startswith(aux_prefixes(model)) for k in missing)
    if unexpected or (missing and (strict or not aux_only)):
        raise DataError(f"{source} does not fit {type(model).__name__}: {len(missing)} missing keys (e.g. "
                        f"{missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); build the "
                        "torchvision-compatible model (e.g. googlenet_torchvision) with the same num_classes")
    for key, value in state.items():
        if own[key].shape != value.shape:
            raise DataError(f"{source}: {key} has shape {tuple(value.shape)}, the model expects "
                            f"{tuple(own[key].shape)}; build the model with the file's num_classes")
    model.load_state_dict(state, strict=False)
    return model


def load_torchvision_weights(model: nn.Module, path: str | Path, *, strict: bool | None = None) -> nn.Module:
    """Load a torchvision weights file (e.g. ``googlenet-1378be20.pth``) into ``model``; never downloads.

    Read with ``torch.load(weights_only=True)``: no code in the file can run.
    """
    return load_torchvision_state(model, read_state_dict(path), strict=strict, source=repr(str(path)))


def import_torchvision(path: str | Path, *, model: str | None = None, state: Mapping[str, Tensor] | None = None,
                       model_kwargs: dict[str, Any] | None = None):
    """Build the registry model a torchvision ``.pth`` file fits (or ``model``) and load the file into it.

    Returns an :class:`~googlenet.weights.importer.ImportedWeights`.
    """
    from ..models.registry import create_model

    state = read_state_dict(path) if state is None else state
    if model is not None:
        name = registry_name(model)
        found = fit(Candidate(name, "torchvision"), state)
        if not found.exact:
            raise NotAFit(path, state, wanted=f"torchvision {name}")
    else:
        found = best_fit(candidates(), state)
        if found is None or not found.exact:
            raise NotAFit(path, state, wanted="a torchvision model") if found else DataError(
                f"{str(path)!r} fits no torchvision-compatible model ({describe(state)}); pass a torchvision "
                "state_dict .pth file")
        name = found.candidate.name
    kwargs: dict[str, Any] = {"num_classes": found.num_classes, **WEIGHTS_KWARGS.get(name, {})}
    if any(k.startswith(aux_prefixes(name)) for k in _shape_keys(name)):
        kwargs["aux_logits"] = found.aux
    kwargs.update(model_kwargs or {})
    net = create_model(name, **kwargs)
    load_torchvision_state(net, state, source=repr(str(path)))
    net.eval()
    crop, resize = EVAL_SIZES.get(name, (224, 256))
    return ImportedWeights(name, net, class_names_for(found.num_classes),
                           rgb_preprocessing(crop, resize, source="torchvision"), kwargs, "torchvision", str(path))


def _shape_keys(name: str) -> list[str]:
    from ._state import model_shapes

    return list(model_shapes(name))
