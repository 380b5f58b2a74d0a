"""One entry point for other libraries' weights: torchvision, timm, BVLC Caffe.

``import_weights(kind, path)`` reads the file (never unpickling: ``weights_only=True``,
safetensors, or protobuf), judges which registry model it is from its keys and shapes, builds that
model with the file's class count (and aux heads only when the file has them), loads the weights and
returns it with the ImageNet class names (for 1000-class files) and the preprocessing its weights
were trained with. ``import_to_file`` writes all that as a googlenet model file, which ``predict``,
``eval``, ``export`` and ``train --init-from`` read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..errors import DataError, UserError
from ._state import Candidate, ImportedWeights, NotAFit, best_fit, describe, existing_file, read_state_dict, sniff

KINDS = ("torchvision", "timm", "caffe")
_EXAMPLE = "e.g. googlenet weights import torchvision resnet18-f37072fd.pth --out resnet18.safetensors"


def detect_kind(path: str | Path) -> str:
    """"torchvision", "timm" or "caffe", from the file's suffix and contents (keys and shapes)."""
    path = existing_file(path, "weights file", _EXAMPLE)
    container = sniff(path)
    if path.suffix.lower() == ".caffemodel" or container == "other":
        return "caffe"
    _refuse_own_model_file(path, container)
    return _kind_of(read_state_dict(path), path)


def _kind_of(state: Mapping[str, Tensor], path: Path) -> str:
    found = identify(state)
    if found is None or not found.exact or found.candidate.kind == "ours":
        raise not_a_fit(path, state, wanted="a torchvision or timm model")
    return found.candidate.kind


def import_weights(kind: str, path: str | Path, *, model: str | None = None,
                   model_kwargs: dict[str, Any] | None = None) -> ImportedWeights:
    """Import a ``kind`` ("torchvision", "timm", "caffe" or "auto") weights file.

    ``model``: the registry model to build (default: the one the file fits). ``model_kwargs``: builder
    arguments that do not change the weights' shapes (e.g. ``dropout``, ``transform_input``).
    Returns an :class:`ImportedWeights`, which unpacks as ``(model_name, model, class_names, preprocessing)``;
    the model also carries them as ``model.pretrained_cfg`` and ``model.class_names``.
    """
    imported = _import(kind, existing_file(path, "weights file", _EXAMPLE), model, model_kwargs)
    imported.model.pretrained_cfg = imported.preprocessing  # as a model of googlenet.create_model(pretrained=)
    imported.model.class_names = imported.class_names
    return imported


def _import(kind: str, path: Path, model: str | None, model_kwargs: dict[str, Any] | None) -> ImportedWeights:
    from .caffe import import_caffe
    from .timm import import_timm
    from .torchvision import import_torchvision

    guessed = kind == "auto" and path.suffix.lower() != ".caffemodel"
    if kind == "auto":
        kind = detect_kind(path)
    if kind not in KINDS:
        raise UserError(f"unknown weights kind {kind!r}; choose one of {', '.join(KINDS)} or auto")
    if kind == "caffe":
        try:
            return import_caffe(path, model=model, model_kwargs=model_kwargs)
        except DataError as exc:
            if guessed and "NetParameter" in str(exc):  # not a caffemodel either: say what it is not
                raise DataError(f"{str(path)!r} is not a weights file (neither PyTorch .pth, safetensors nor a Caffe "
                                f".caffemodel); pass one, {_EXAMPLE}") from None
            raise
    _refuse_own_model_file(path, sniff(path))
    state = read_state_dict(path)
    try:
        if kind == "timm":
            return import_timm(path, model=model, state=state, model_kwargs=model_kwargs)
        return import_torchvision(path, model=model, state=state, model_kwargs=model_kwargs)
    except NotAFit as exc:  # say which model the file does fit
        raise not_a_fit(exc.path, exc.state, wanted=exc.wanted) from None


def import_to_file(kind: str, path: str | Path, out: str | Path, *, model: str | None = None,
                   model_kwargs: dict[str, Any] | None = None, force: bool = False) -> ImportedWeights:
    """Import ``path`` and write it to ``out`` as a googlenet model file (atomically).

    An existing ``out`` is replaced only with ``force``; the input file never (docs/robustness.md).
    """
    from ..system.files import check_output_file
    from .checkpoint import save_model

    check_output_file(out, force=force, inputs=(path,), flag="--out", what="weights file")
    imported = import_weights(kind, path, model=model, model_kwargs=model_kwargs)
    save_model(out, imported.model, model_name=imported.model_name, model_kwargs=imported.model_kwargs,
               class_names=imported.class_names, preprocessing=imported.preprocessing,
               extra={"imported_from": {"kind": imported.kind, "file": Path(path).name}})
    return imported


def _refuse_own_model_file(path: Path, container: str) -> None:
    if container != "safetensors":
        return
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:
        return  # read_state_dict reports the damage
    if meta.get("format", "").startswith("googlenet-model/"):
        raise UserError(f"{str(path)!r} is already a googlenet model file ({meta.get('model')}); use it directly, "
                        f"e.g. googlenet predict IMAGE -c {path}")


# ------------------------------------------------------------------------------------------------ which model
def all_candidates() -> list[Candidate]:
    """Everything a weights file might be: torchvision's and timm's layouts, then our own registry's."""
    from ..models.registry import list_models
    from .timm import candidates as timm_candidates
    from .torchvision import TORCHVISION_MODELS
    from .torchvision import candidates as tv_candidates

    ours = [Candidate(name, "ours") for name in list_models() if name not in TORCHVISION_MODELS]
    return tv_candidates() + timm_candidates() + ours


def identify(state: Mapping[str, Tensor]):
    """The :class:`~._state.Fit` of the registry model ``state`` fits best (exact if ``.exact``), or None."""
    return best_fit(all_candidates(), state)


def not_a_fit(path: str | Path, state: Mapping[str, Tensor], *, wanted: str) -> DataError:
    """The one-line error for a file that is not ``wanted``: it names the model the file fits, if any."""
    found = identify(state)
    where = f"{str(path)!r} is not {wanted}"
    if found is None or found.score < 0.5:
        return DataError(f"{where} and fits no registry model ({describe(state)}); pass a torchvision or timm "
                         "state_dict of a registry model (googlenet models lists them)")
    c = found.candidate
    classes = f", {found.num_classes} classes" if found.num_classes != 1000 else ""
    if not found.exact:
        return DataError(f"{where}: it fits no registry model exactly; closest is {c.name} ({found.score:.0%} of "
                         f"keys and shapes match{classes}); check the file is complete and of a supported model")
    if c.kind == "ours":
        return DataError(f"{where}: it is a state_dict of googlenet's own {c.name}{classes}; load it with "
                         f"create_model({c.name!r}).load_state_dict(torch.load(path, weights_only=True))")
    return DataError(f"{where}: its keys and shapes are {c.kind}'s {c.name}{classes}; import it with "
                     f"`googlenet weights import {c.kind} {Path(path).name} --model {c.name} --out MODEL.safetensors`")
