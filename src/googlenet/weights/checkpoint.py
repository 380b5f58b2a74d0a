"""Checkpoints: weights in safetensors plus everything needed to rebuild and use the model.

A *model file* (``model.safetensors``) is self-describing: its safetensors metadata records the
registry name, the builder's keyword arguments, the class names and the preprocessing, so
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
    preprocessing: dict[str, Any] = field(default_factory=dict)  # mean, std, input_size, channels
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
    preprocessing: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and how to rebuild it to ``path`` (safetensors), atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
    metadata = {
        "format": FORMAT,
        "model": model_name,
        "model_kwargs": json.dumps(model_kwargs),
        "class_names": json.dumps(class_names),
        "preprocessing": json.dumps(preprocessing or {}),
        "extra": json.dumps(extra or {}),
    }
    return atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


def read_model_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded metadata of a model file, without reading the weights."""
    from safetensors import safe_open

    path = existing_file(path, "model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except Exception as exc:
        raise DataError(f"{str(path)!r} is not a readable safetensors model file ({exc}); "
                        "pass a model.safetensors written by `googlenet train`") from None
    if raw.get("format") != FORMAT:
        raise DataError(f"{str(path)!r} has no googlenet metadata; it was not written by googlenet.save_model "
                        "(to turn a torchvision, timm or Caffe weights file into one: "
                        "googlenet weights import KIND FILE --out model.safetensors)")
    return {
        "model": raw["model"],
        "model_kwargs": json.loads(raw["model_kwargs"]),
        "class_names": json.loads(raw["class_names"]),
        "preprocessing": json.loads(raw["preprocessing"]),
        "extra": json.loads(raw.get("extra", "{}")),
    }


def load_model(path: str | Path, *, map_location: str | torch.device = "cpu", **override_kwargs: Any) -> LoadedModel:
    """Rebuild the model saved at ``path`` (a model file, or a run folder holding ``model.safetensors``)."""
    from safetensors.torch import load_file

    from ..models.registry import create_model

    path = resolve_model_path(path)
    meta = read_model_metadata(path)
    kwargs = {**meta["model_kwargs"], **override_kwargs}
    model = create_model(meta["model"], **kwargs)
    state = load_file(str(path), device=str(map_location))
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    if override_kwargs.get("aux_logits") is False:  # dropping aux heads at load time is allowed
        state = {k: v for k, v in state.items() if k in own}
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise DataError(f"{str(path)!r} does not match model {meta['model']!r}: {len(missing)} missing and "
                        f"{len(unexpected)} unexpected weights; the file may be damaged")
    model.load_state_dict(state)
    model.eval()
    return LoadedModel(model, meta["model"], kwargs, meta["class_names"], meta["preprocessing"], meta["extra"], path)


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
