"""Reading other libraries' weights files safely, and judging which registry model a state_dict fits.

Never unpickles: ``.pth`` files are read with ``torch.load(weights_only=True)`` (tensors and plain
containers only; a pickle that names any other Python object is refused before anything runs) and
``.safetensors`` files hold only tensors by design.

Which model a file fits is judged from its keys and shapes alone, against each registry model built
on the ``meta`` device (no memory, no init cost), so a user who passed the wrong file or the wrong
``--model`` is told the model the file *is*.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data.preprocessing import PretrainedCfg
from ..errors import DataError
from .checkpoint import existing_file

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL2 = b"\x80\x02"  # torch.save(..., _use_new_zipfile_serialization=False) and old torchvision files


def sniff(path: Path) -> str:
    """The container format of a weights file from its first bytes: "torch", "safetensors" or "other"."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTOCOL2):
        return "torch"
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    return "other"


def read_state_dict(path: str | Path, what: str = "weights file") -> dict[str, Tensor]:
    """The tensors of a ``.pth`` / ``.pt`` / ``.bin`` (torch) or ``.safetensors`` file, unwrapped.

    Training checkpoints that wrap the weights (``{"state_dict": ...}``, ``{"model": ...}``, timm's
    ``state_dict_ema``) and DDP's ``module.`` prefix are unwrapped, so any of them imports.
    """
    path = existing_file(path, what, "a .pth or .safetensors file")
    kind = sniff(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except Exception as exc:
            raise DataError(f"cannot read {str(path)!r} as safetensors ({_short(exc)}): the file is truncated or "
                            "damaged; download it again") from None
    elif kind == "torch":
        state = _torch_load(path)
    else:
        raise DataError(f"{str(path)!r} is neither a PyTorch (.pth, zip or pickle) nor a safetensors file; pass a "
                        "torchvision/timm weights file (or a .caffemodel with kind caffe)")
    return unwrap_state(state, path)


def _torch_load(path: Path) -> Any:
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise DataError(f"cannot read {str(path)!r} ({_short(exc)}): the file is truncated or damaged; download "
                            "it again") from None
        # weights_only refused a global: the pickle would have built (and could have run) arbitrary code.
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        thing = f" ({found[1]})" if found else ""
        raise DataError(f"refused {str(path)!r}: it holds Python objects other than tensors{thing}, and loading "
                        "it could run code; use a file holding only a state_dict (torch.save(model.state_dict()))"
                        " or a .safetensors file") from None
    except Exception as exc:  # truncated zip, bad pickle stream, ...
        raise DataError(f"cannot read {str(path)!r} ({_short(exc)}): the file is truncated or damaged; download it "
                        "again") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text.split(". ")[0].rstrip(".")[:120]  # the first sentence: the rest is advice for another case
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def unwrap_state(state: Any, path: Path) -> dict[str, Tensor]:
    if isinstance(state, Mapping):
        for key in ("state_dict_ema", "state_dict", "model_state_dict", "model"):
            inner = state.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                state = inner
                break
    if not isinstance(state, Mapping) or not state:
        raise DataError(f"{str(path)!r} holds a {type(state).__name__}, not a state_dict of tensors; save "
                        "model.state_dict() with torch.save")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, Tensor)}
    if not tensors:
        raise DataError(f"{str(path)!r} holds no tensors; pass a weights file (a state_dict)")
    if all(k.startswith("module.") for k in tensors):  # saved from DistributedDataParallel
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


# ------------------------------------------------------------------------------------------------ fitting
@dataclass(frozen=True)
class Candidate:
    """A registry model a weights file might be, and how its keys are spelled in that file."""

    name: str
    kind: str  # "torchvision", "timm", "ours"
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    key_map: Callable[[str], str] | None = field(default=None, hash=False, compare=False)

    def map_keys(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {self.key_map(k): v for k, v in state.items()} if self.key_map else dict(state)


@dataclass
class Fit:
    candidate: Candidate
    num_classes: int
    aux: bool  # the file carries the auxiliary classifiers
    score: float  # 1.0: every key and shape matches

    @property
    def exact(self) -> bool:
        return self.score == 1.0


@cache
def _shapes(name: str, kwargs_items: tuple[tuple[str, Any], ...]) -> dict[str, tuple[int, ...]]:
    from ..models.registry import create_model

    with torch.device("meta"):
        model = create_model(name, **dict(kwargs_items))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def aux_prefixes(model: nn.Module | str) -> tuple[str, ...]:
    """State-dict key prefixes of the auxiliary heads that ``model`` (or registry model ``model``) declares
    (``aux1.``, ``aux2.``; ``AuxLogits.``): a file may or may not carry them (torchvision's and BVLC's deploy
    nets)."""
    if isinstance(model, str):
        return _registry_aux_prefixes(model)
    return tuple(f"{n}." for n in getattr(model, "aux_head_names", list)())


@cache
def _registry_aux_prefixes(name: str) -> tuple[str, ...]:
    from ..models.registry import create_model

    with torch.device("meta"):
        return aux_prefixes(create_model(name))


def model_shapes(name: str, **kwargs: Any) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a registry model's state_dict, built on the meta device (cached)."""
    return _shapes(name, tuple(sorted(kwargs.items())))


def fit(candidate: Candidate, state: Mapping[str, Tensor]) -> Fit:
    """How well ``state`` fits ``candidate``: exact (score 1) with the file's class count and aux heads, or not."""
    mapped = candidate.map_keys(state)
    own = model_shapes(candidate.name, **candidate.kwargs)
    aux_keys = {k for k in own if k.startswith(aux_prefixes(candidate.name))}
    has_aux = bool(aux_keys) and aux_keys <= set(mapped)
    wanted = set(own) if has_aux else set(own) - aux_keys
    common = wanted & set(mapped)
    union = wanted | set(mapped)
    same = sum(1 for k in common if tuple(mapped[k].shape) == own[k])
    num_classes = 1000
    if common == wanted == set(mapped) and same < len(common):
        # Only the classifiers may differ: keys whose first dimension is the default class count.
        diff = [k for k in common if tuple(mapped[k].shape) != own[k]]
        sizes = {mapped[k].shape[0] if mapped[k].dim() else -1 for k in diff}
        if len(sizes) == 1 and all(own[k][0] == 1000 and tuple(mapped[k].shape[1:]) == own[k][1:] for k in diff):
            num_classes = int(sizes.pop())
            own = model_shapes(candidate.name, **{**candidate.kwargs, "num_classes": num_classes})
            same = sum(1 for k in common if tuple(mapped[k].shape) == own[k])
    score = same / len(union) if union else 0.0
    return Fit(candidate, num_classes, has_aux, score)


def best_fit(candidates: Iterable[Candidate], state: Mapping[str, Tensor]) -> Fit | None:
    """The exact fit among ``candidates`` if there is one, else the closest (highest score), else None."""
    fits = [fit(c, state) for c in candidates]
    fits = [f for f in fits if f.score > 0]
    if not fits:
        return None
    return max(fits, key=lambda f: (f.exact, f.score))


def describe(state: Mapping[str, Tensor]) -> str:
    """A few keys and the tensor count, to say what a file holds when it fits nothing we know."""
    keys = list(state)
    return f"{len(keys)} tensors, keys like {keys[:3]}"


@dataclass
class ImportedWeights:
    """An imported model. Unpacks as ``model_name, model, class_names, preprocessing``."""

    model_name: str
    model: nn.Module
    class_names: list[str] | None
    preprocessing: PretrainedCfg
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    source: str = ""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.model_name, self.model, self.class_names, self.preprocessing))

    def __getitem__(self, index: int) -> Any:  # a 4-tuple to callers that index it
        return tuple(self)[index]

    def __len__(self) -> int:
        return 4


class NotAFit(DataError):
    """A weights file that is not the model asked for. :func:`~.importer.import_weights` turns it into the
    one-line error that names the model the file does fit."""

    def __init__(self, path: str | Path, state: Mapping[str, Tensor], *, wanted: str) -> None:
        super().__init__(f"{str(path)!r} is not {wanted}; `googlenet weights import auto FILE` names the model it fits")
        self.path, self.state, self.wanted = path, state, wanted
