"""Checkpoints: weights in safetensors plus everything needed to rebuild and use the model.

A *model file* (``model.safetensors``) is self-describing: its safetensors metadata records the
registry name, the builder's keyword arguments, the class names and the preprocessing (a
:class:`~googlenet.data.preprocessing.PretrainedCfg`, as JSON), so
``load_model(path)`` rebuilds the exact network with no other file. Safetensors holds only tensors,
so loading one never runs code from the file.

A *training state* (``train_state.pt``: optimizer, scheduler, RNG, epoch) holds tensors and plain
Python containers only and is read with ``torch.load(weights_only=True)``.

Every write goes to a temporary file in the same folder and is then renamed over the target, so a
kill at any moment leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.preprocessing import PretrainedCfg
from ..errors import DataError, UserError
from ..system.files import atomic_write

FORMAT = "googlenet-model/1"


@dataclass
class LoadedModel:
    """A model rebuilt from a model file, with what is needed to feed it and read its output."""

    model: nn.Module
    model_name: str
    model_kwargs: dict[str, Any]
    class_names: list[str] | None = None
    #: What the weights expect of their input (also ``model.pretrained_cfg``); input_size and channels filled in.
    preprocessing: PretrainedCfg = field(default_factory=PretrainedCfg)
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def num_classes(self) -> int:
        return int(self.model_kwargs.get("num_classes", 1000))


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DDP / torch.compile / averaged-model wrappers."""
    for attr in ("module", "_orig_mod"):
        while hasattr(model, attr) and isinstance(getattr(model, attr), nn.Module):
            model = getattr(model, attr)
    return model


def save_model(
    path: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: dict[str, Any],
    class_names: list[str] | None = None,
    preprocessing: PretrainedCfg | dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and how to rebuild it to ``path`` (safetensors), atomically.

    ``preprocessing``: a record or its dict (checked); default the model's own ``pretrained_cfg``, if any."""
    from safetensors.torch import save_file

    if preprocessing is None:
        preprocessing = getattr(_unwrap(model), "pretrained_cfg", None)
    pre = PretrainedCfg.coerce(preprocessing)
    state = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
    metadata = {
        "format": FORMAT,
        "model": model_name,
        "model_kwargs": json.dumps(model_kwargs),
        "class_names": json.dumps(class_names),
        "preprocessing": json.dumps(pre.as_dict()),
        "extra": json.dumps(extra or {}),
    }
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


def read_model_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded metadata of a model file, without reading the weights.

    Every field is checked (docs/robustness.md): a damaged one is a one-line DataError naming the file, the
    field and what it should hold, never a traceback later.
    """
    from safetensors import safe_open

    path = existing_file(path, "model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as exc:
        raise DataError(f"{str(path)!r} is not a readable safetensors model file ({one_line(exc)}); "
                        "pass a model.safetensors written by `googlenet train`") from None
    if raw.get("format") != FORMAT:
        raise DataError(f"{str(path)!r} has no googlenet metadata; it was not written by googlenet.save_model "
                        "(to turn a torchvision, timm or Caffe weights file into one: "
                        "googlenet weights import KIND FILE --out model.safetensors)")
    return check_metadata(raw, str(path))


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (libraries' messages run over several), or its type's name."""
    text = " ".join(str(exc).split())
    return text[:300] or exc.__class__.__name__


def check_metadata(raw: dict[str, str], where: str) -> dict[str, Any]:
    """The fields of a model file's raw metadata decoded and checked, each with its own one-line message."""
    from ..models.registry import list_models

    def damaged(field: str, wanted: str) -> DataError:
        return DataError(f"{where!r} has damaged metadata: {field} {wanted}; the file is damaged, write it again "
                         "(googlenet train, or googlenet weights import)")

    def decoded(key: str, default: str | None = None) -> Any:
        text = raw.get(key, default)
        if text is None:
            raise damaged(key, "is missing")
        try:
            return json.loads(text)
        except (TypeError, ValueError):
            raise damaged(key, f"is not JSON (starts {str(text)[:40]!r})") from None

    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise damaged("'model'", "is missing (it names the registry model the weights are for)")
    if model not in list_models():
        raise damaged("'model'", f"names {model[:60]!r}, which is no registry model (googlenet models lists them)")
    kwargs = decoded("model_kwargs")
    if not isinstance(kwargs, dict):
        raise damaged("model_kwargs", f"must be a JSON object of builder arguments, got {type(kwargs).__name__}")
    classes = decoded("class_names", "null")
    if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
        raise damaged("class_names", "must be a JSON list of strings (or null)")
    raw_pre = decoded("preprocessing", "{}")
    if not isinstance(raw_pre, dict):
        raise damaged("preprocessing", f"must be a JSON object, got {type(raw_pre).__name__}")
    try:
        pre = PretrainedCfg.from_dict(raw_pre)
    except DataError as exc:  # "preprocessing <field> must ...": the same one line, naming the file
        raise DataError(f"{where!r} has damaged metadata: {exc}; the file is damaged, write it again (googlenet "
                        "train, or googlenet weights import)") from None
    extra = decoded("extra", "{}")
    if not isinstance(extra, dict):
        raise damaged("extra", f"must be a JSON object, got {type(extra).__name__}")
    return {"model": model, "model_kwargs": kwargs, "class_names": classes, "preprocessing": pre, "extra": extra}


#: Bytes per parameter to run a model: its fp32 weights plus the file's copy while loading.
INFERENCE_BYTES_PER_PARAMETER = 8


def check_fits_in_memory(name: str, kwargs: dict[str, Any], *, bytes_per_parameter: int, needs: str,
                         hint: str, where: str = "") -> int:
    """The parameter count of ``name`` built with ``kwargs``; a one-line UserError, before anything is
    allocated (counted on the meta device), when ``bytes_per_parameter`` each exceed 80% of this machine's
    memory. One estimate for ``train --width`` and for building a model from a file's metadata."""
    from ..models.registry import count_parameters
    from ..system.hardware import total_memory_bytes

    try:
        params = count_parameters(name, **kwargs)
    except UserError as exc:
        if where:
            raise DataError(f"{where}: the model cannot be built from its metadata ({exc})") from None
        raise
    except Exception as exc:  # a builder's own check of an impossible argument (negative channels ...)
        if where:
            raise DataError(f"{where}: the model cannot be built from its metadata model_kwargs {kwargs} "
                            f"({one_line(exc)}); the file is damaged, write it again") from None
        raise UserError(f"cannot build {name!r} with {kwargs} ({one_line(exc)}); check the builder options") from None
    total = total_memory_bytes()
    need = params * bytes_per_parameter
    if total is not None and need > 0.8 * total:
        parts = "weights, gradients, momentum, averages" if bytes_per_parameter > INFERENCE_BYTES_PER_PARAMETER \
            else "weights"
        raise UserError(f"{where + ': ' if where else ''}{name} with {kwargs} has {params / 1e9:.2f}G parameters: "
                        f"{needs} needs at least {need / 2**30:.0f} GiB ({parts}) but this machine has "
                        f"{total / 2**30:.0f} GiB; {hint}")
    return params


#: Bytes a training step keeps per activation value: the fp32 output, saved for backward, and its gradient.
TRAINING_BYTES_PER_ACTIVATION = 8


def activation_values(name: str, kwargs: dict[str, Any], *, channels: int, size: int) -> int | None:
    """Values the modules of ``name`` output for one ``channels`` x ``size`` x ``size`` image, from a forward
    pass on the meta device (no memory is allocated); None when the model cannot run that way."""
    from ..models.registry import create_model

    total = 0

    def count(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal total
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total += t.numel()

    try:
        with torch.device("meta"):
            model = create_model(name, **kwargs)
            hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
            model.train()
            model(torch.empty(1, channels, size, size))
        for h in hooks:
            h.remove()
    except UserError:
        raise  # the model's own check (an input too small ...): the user's to fix
    except Exception:  # noqa: BLE001 - an op without a meta kernel: the caller falls back to the input alone
        return None
    return total


def check_step_memory(name: str, kwargs: dict[str, Any], *, batch: int, channels: int, size: int,
                      hint: str) -> None:
    """A one-line UserError, before any image is resized or tensor allocated, when one training step of
    ``batch`` images at ``size`` px needs more than 80% of this machine's memory (``--input-size 100000``)."""
    from ..system.hardware import total_memory_bytes

    total = total_memory_bytes()
    if total is None:
        return
    per_image = activation_values(name, kwargs, channels=channels, size=size)
    per_image = channels * size * size if per_image is None else per_image
    need = per_image * batch * TRAINING_BYTES_PER_ACTIVATION
    if need > 0.8 * total:
        raise UserError(f"a training step of {batch} images at {size} px needs about {need / 2**30:,.0f} GiB for "
                        f"{name}'s activations but this machine has {total / 2**30:.0f} GiB; {hint}")


def load_model(path: str | Path, *, map_location: str | torch.device = "cpu", **override_kwargs: Any) -> LoadedModel:
    """Rebuild the model saved at ``path`` (a model file, or a run folder holding ``model.safetensors``).

    Before a tensor is allocated the network is built on the meta device from the metadata, its size goes
    through :func:`check_fits_in_memory`, and its weights' names and shapes are compared with the file's
    header: a file whose metadata asks for another network (``"width": 64``) is refused, not built.
    """
    from ..models.registry import create_model

    path = resolve_model_path(path)
    meta = read_model_metadata(path)
    kwargs = {**meta["model_kwargs"], **override_kwargs}
    where = repr(str(path))
    check_fits_in_memory(meta["model"], kwargs, bytes_per_parameter=INFERENCE_BYTES_PER_PARAMETER,
                         needs="loading it", hint="the metadata's model_kwargs are damaged, or the model is too "
                         "large for this machine", where=where)
    drop_aux = override_kwargs.get("aux_logits") is False  # dropping aux heads at load time is allowed
    own = _checked_shapes(path, meta, kwargs, drop_aux=drop_aux)
    model = create_model(meta["model"], **kwargs)
    state = _read_state(path, model, map_location)
    if drop_aux:
        state = {k: v for k, v in state.items() if k in own}
    model.load_state_dict(state)
    model.eval()
    pre = completed_cfg(meta["preprocessing"], meta["model"], kwargs)
    model.pretrained_cfg = pre
    model.class_names = meta["class_names"]
    return LoadedModel(model, meta["model"], kwargs, meta["class_names"], pre, meta["extra"], path)


def _checked_shapes(path: Path, meta: dict[str, Any], kwargs: dict[str, Any], *, drop_aux: bool
                    ) -> dict[str, tuple[int, ...]]:
    """The weight shapes of the network ``meta`` names (built on the meta device: nothing allocated), once
    they match the file's header and the class names match its classifier; else a one-line DataError."""
    from safetensors import safe_open

    from ..models.registry import create_model

    where = repr(str(path))
    with torch.device("meta"):
        skeleton = create_model(meta["model"], **kwargs)
    own = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    try:
        with safe_open(str(path), framework="pt") as f:
            theirs = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as exc:
        raise DataError(f"{where} is not a readable safetensors model file ({one_line(exc)}); the file is "
                        "damaged, write it again") from None
    if drop_aux:
        theirs = {k: v for k, v in theirs.items() if k in own}
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    if missing or unexpected:
        raise DataError(f"{where} does not match model {meta['model']!r}: {len(missing)} missing and "
                        f"{len(unexpected)} unexpected weights; the file may be damaged")
    wrong = [k for k in own if own[k] != theirs[k]]
    if wrong:
        k = wrong[0]
        raise DataError(f"{where}: {len(wrong)} weights have other shapes than its metadata's model {meta['model']!r} "
                        f"with {meta['model_kwargs']} (e.g. {k}: {list(theirs[k])} in the file, {list(own[k])} "
                        "expected); the metadata is damaged, write the file again")
    classes = getattr(skeleton, "num_classes", None)
    names = meta["class_names"]
    if names is not None and isinstance(classes, int) and len(names) != classes:
        raise DataError(f"{where} has damaged metadata: class_names lists {len(names)} names for a model of "
                        f"{classes} classes; the file is damaged, write it again")
    return own


def _read_state(path: Path, model: nn.Module, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    """The file's tensors on ``map_location``; a weight of another dtype kind than ``model``'s (an integer
    where a float belongs) is a one-line DataError."""
    from safetensors.torch import load_file

    where = repr(str(path))
    try:
        state = load_file(str(path), device=str(map_location))
    except Exception as exc:
        raise DataError(f"cannot read the weights of {where} ({one_line(exc)}); the file is damaged, write it "
                        "again") from None
    own_state = model.state_dict()
    bad = next((k for k, v in state.items() if k in own_state and v.dtype != own_state[k].dtype
                and not (v.is_floating_point() and own_state[k].is_floating_point())), None)
    if bad is not None:
        raise DataError(f"{where}: weight {bad} is stored as {state[bad].dtype}, not {own_state[bad].dtype}; the "
                        "file is damaged, write it again")
    return state


def completed_cfg(cfg: PretrainedCfg, model_name: str, kwargs: dict[str, Any]) -> PretrainedCfg:
    """``cfg`` with the input size and channels a file of an older version may not record: the registry's
    native input size and the model's ``in_channels``."""
    from ..models.registry import model_info

    info = model_info(model_name)
    channels = int(kwargs.get("in_channels", info.default_kwargs.get("in_channels", 3)))
    return cfg.completed(input_size=info.input_size, channels=channels)


def resolve_model_path(path: str | Path) -> Path:
    """Accept a model file or a run folder (which holds ``model.safetensors``)."""
    path = Path(path)
    if path.is_dir():
        for name in ("model.safetensors", "best.safetensors", "last.safetensors"):
            if (path / name).is_file():
                return path / name
        raise DataError(f"no model.safetensors in folder {str(path)!r}; pass a run folder written by "
                        "`googlenet train` or the path of a .safetensors model file")
    return existing_file(path, "checkpoint")


def existing_file(path: str | Path, what: str, example: str = "") -> Path:
    """``path`` if it is a file; else a one-line error naming ``what`` it should be (``example``: a hint)."""
    path = Path(path)
    hint = f" ({example})" if example else ""
    if not path.exists():
        raise DataError(f"{what} {str(path)!r} not found; check the path{hint}")
    if not path.is_file():
        raise UserError(f"{what} {str(path)!r} is not a file; pass the file itself{hint}")
    return path
