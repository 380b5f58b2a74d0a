"""timm checkpoints (``.pth`` or ``.safetensors``) of ``inception_v4`` and ``inception_resnet_v2``.

timm's modules are named after Cadene's port of the TF-slim release (``features.3``, ``repeat_1.7``,
``mixed_6a``); ours after the paper's figures. The key mapping lives beside the models
(:func:`googlenet.models.inception_v4.timm_key`); this module finds which of the two models a file is,
builds it with the file's class count and loads it, strictly.

Preprocessing is timm's ``pretrained_cfg`` of the ``tf_in1k`` weights: mean = std = 0.5 (inputs in
[-1, 1], as TF-slim trained them), 299x299 crops of a bicubic resize by ``crop_pct``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..data.imagenet import class_names_for, rgb_preprocessing
from ..errors import UserError
from ._state import Candidate, ImportedWeights, NotAFit, best_fit, fit, read_state_dict

#: timm's ``crop_pct`` of each model's released weights (timm.models.get_pretrained_cfg(name).crop_pct).
TIMM_MODELS: dict[str, float] = {"inception_v4": 0.875, "inception_resnet_v2": 0.8975}


def _key_map(name: str):
    from ..models.inception_v4 import timm_key

    return lambda key: timm_key(key, name)


def candidates() -> list[Candidate]:
    return [Candidate(name, "timm", key_map=_key_map(name)) for name in TIMM_MODELS]


def import_timm(path: str | Path, *, model: str | None = None, state: Mapping[str, Tensor] | None = None,
                model_kwargs: dict[str, Any] | None = None):
    """Build our ``inception_v4`` / ``inception_resnet_v2`` from a timm checkpoint of it."""
    from ..models.inception_v4 import load_timm_state_dict
    from ..models.registry import create_model

    state = read_state_dict(path) if state is None else state
    if model is not None:
        if model not in TIMM_MODELS:
            raise UserError(f"timm import supports {', '.join(TIMM_MODELS)}, not {model!r}; pass one of them to "
                            "--model (or kind torchvision for torchvision files)")
        found = fit(Candidate(model, "timm", key_map=_key_map(model)), state)
    else:
        found = best_fit(candidates(), state)
    if found is None or not found.exact:
        raise NotAFit(path, state, wanted=f"timm {model or ' or '.join(TIMM_MODELS)}")
    name = found.candidate.name
    kwargs: dict[str, Any] = {"num_classes": found.num_classes, **(model_kwargs or {})}
    net = create_model(name, **kwargs)
    load_timm_state_dict(net, state, name)
    net.eval()
    resize = int(math.floor(299 / TIMM_MODELS[name]))  # timm's transforms_factory rounds down
    pre = rgb_preprocessing(299, resize, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), source="timm",
                            interpolation="bicubic")
    return ImportedWeights(name, net, class_names_for(found.num_classes), pre, kwargs, "timm", str(path))
