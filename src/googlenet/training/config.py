"""Training settings: one dataclass, named recipes, config files (TOML / YAML), validation.

Precedence, lowest first: :class:`TrainConfig` defaults < the recipe < a config file < explicit
arguments (CLI flags). Every field can be set at every level.

Recipes:

* ``paper`` -- GoogLeNet section 6: asynchronous SGD with momentum 0.9, "fixed learning rate schedule
  (decreasing the learning rate by 4% every 8 epochs)", Polyak averaging of the weights for the model
  used at inference, the section 6 augmentation (8%-100% area crops, aspect 3/4-4/3, random
  interpolation, photometric distortion), auxiliary losses weighted 0.3 (section 5).
* ``inception-v3`` -- Rethinking the Inception Architecture, section 8: RMSProp with decay 0.9 and
  epsilon 1.0, learning rate 0.045 decayed by 0.94 every 2 epochs, gradient clipping at norm 2.0,
  a running average of the parameters for evaluation; section 7's label smoothing 0.1.
* ``fast`` -- for CPU-scale runs (minutes): SGD + Nesterov momentum with a one-cycle schedule
  (warm up, then cosine down to 0), batch norm, no auxiliary heads (Rethinking..., section 4: they do
  not speed up early training), the small-image augmentation.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError


@dataclass
class TrainConfig:
    # what to train
    model: str = "googlenet"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # start from the weights of this model file
    # data
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    download: bool = False
    val_fraction: float = 0.1
    split_seed: int = 0
    skip_bad_images: bool = False
    input_size: int | None = None  # default: the dataset's native size (224 for folders)
    augment: str = "small"  # "paper", "small", "none"
    pad: int = 2
    hflip: bool | None = None  # default: the dataset's (no flips for digits)
    color_jitter: float = 0.4
    workers: int | None = None  # DataLoader worker processes; default 0 on CPU, 8 on GPU
    # optimisation
    recipe: str = "fast"
    epochs: int = 3
    batch_size: int = 128  # global: split across processes under torchrun
    optimizer: str = "sgd"  # "sgd", "rmsprop", "adamw"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    rmsprop_decay: float = 0.9
    rmsprop_eps: float = 1.0
    schedule: str = "onecycle"  # "onecycle", "step", "cosine", "constant"
    warmup_epochs: float = 0.5  # onecycle / cosine
    lr_step_epochs: float = 8.0  # step: multiply by lr_gamma every lr_step_epochs
    lr_gamma: float = 0.96
    label_smoothing: float = 0.0
    grad_clip: float | None = None  # max gradient norm
    aux_weight: float = 0.3  # section 5: auxiliary losses "weighted by 0.3"
    ema_decay: float | None = None  # Polyak / exponential averaging of the weights, per step
    # machinery
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    amp: str = "auto"  # "auto" (on with CUDA), "on", "off"
    channels_last: str = "auto"  # "auto" (on), "on", "off"
    compile: bool = False  # torch.compile the model
    sync_bn: bool = False  # SyncBatchNorm under torchrun
    out: str | None = None  # run folder; default runs/<dataset>-<model>-<time>
    eval_test: bool = True  # evaluate on the test split at the end
    max_steps: int | None = None  # stop after this many optimizer steps (smoke tests)
    threads: int | None = None  # torch intra-op threads on CPU

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}

RECIPES: dict[str, dict[str, Any]] = {
    "paper": dict(
        optimizer="sgd", momentum=0.9, nesterov=False, lr=0.01, weight_decay=2e-4, schedule="step",
        lr_step_epochs=8.0, lr_gamma=0.96, ema_decay=0.9999, augment="paper", aux_weight=0.3, epochs=250,
        batch_size=128, label_smoothing=0.0, grad_clip=None,
        model_kwargs={"aux_logits": True},
    ),
    "inception-v3": dict(
        optimizer="rmsprop", rmsprop_decay=0.9, rmsprop_eps=1.0, momentum=0.9, lr=0.045, weight_decay=4e-5,
        schedule="step", lr_step_epochs=2.0, lr_gamma=0.94, label_smoothing=0.1, grad_clip=2.0,
        ema_decay=0.9999, augment="paper", aux_weight=0.3, epochs=100, batch_size=32,
        model_kwargs={"aux_logits": True, "batch_norm": True},
    ),
    "fast": dict(
        optimizer="sgd", momentum=0.9, nesterov=True, lr=0.1, weight_decay=5e-4, schedule="onecycle",
        warmup_epochs=0.5, ema_decay=None, augment="small", pad=2, label_smoothing=0.0, grad_clip=None,
        epochs=3, batch_size=128,
        # batch norm: trains at a high learning rate from step 1; no LRN (BN replaces it);
        # width 1/8: 4.6M multiply-adds per 28x28 image instead of ~290M (docs/training.md).
        model_kwargs={"batch_norm": True, "lrn": False, "aux_logits": False, "width": 0.125},
    ),
}
CHOICES = {
    "optimizer": ("sgd", "rmsprop", "adamw"),
    "schedule": ("onecycle", "step", "cosine", "constant"),
    "augment": ("paper", "small", "none"),
    "amp": ("auto", "on", "off"),
    "channels_last": ("auto", "on", "off"),
}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file; keys are TrainConfig fields."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {str(path)!r} not found; check the path")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise UserError(f"config file {str(path)!r}: use a .toml, .yaml/.yml or .json file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"config file {str(path)!r} does not parse ({first}); fix the syntax") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {str(path)!r} must hold a table of settings, e.g. lr = 0.05")
    return {k.replace("-", "_"): v for k, v in data.items()}


def make_config(recipe: str | None = None, file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults < recipe < file < overrides (``None`` overrides are ignored), validated."""
    settings: dict[str, Any] = {}
    from_file = read_config_file(file) if file else {}
    recipe = recipe or overrides.get("recipe") or from_file.get("recipe") or "fast"
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r}; use one of {', '.join(RECIPES)}")
    model_kwargs: dict[str, Any] = {}
    explicit = {k: v for k, v in overrides.items() if v is not None}
    model = explicit.get("model") or from_file.get("model") or TrainConfig.model
    recipe_settings = dict(RECIPES[recipe])
    if not str(model).startswith("googlenet"):  # the recipes' model options are GoogLeNet builder options
        recipe_settings.pop("model_kwargs", None)
    for layer in (recipe_settings, from_file, explicit):
        for key, value in layer.items():
            if key not in FIELDS:
                import difflib

                close = difflib.get_close_matches(key, FIELDS, n=1)
                raise UserError(f"unknown training setting {key!r}"
                                f"{f'; did you mean {close[0]!r}?' if close else ''} (see docs/training.md)")
            if key == "model_kwargs":
                model_kwargs.update(value or {})
            else:
                settings[key] = value
    config = TrainConfig(**settings, model_kwargs=model_kwargs)
    config.recipe = recipe
    validate(config)
    return config


def validate(c: TrainConfig) -> None:
    """Raise a UserError naming the fix for impossible settings."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise UserError(msg)

    for key, options in CHOICES.items():
        need(getattr(c, key) in options, f"{key} must be one of {', '.join(options)}, got {getattr(c, key)!r}")
    need(isinstance(c.epochs, int) and c.epochs >= 1, f"epochs must be a whole number >= 1, got {c.epochs!r}")
    need(isinstance(c.batch_size, int) and c.batch_size >= 1,
         f"batch size must be a whole number >= 1, got {c.batch_size!r}; e.g. --batch-size 128")
    need(c.lr > 0, f"learning rate must be positive, got {c.lr}; e.g. --lr 0.1")
    need(c.weight_decay >= 0, f"weight decay must be >= 0, got {c.weight_decay}")
    need(0 <= c.momentum < 1, f"momentum must be in [0, 1), got {c.momentum}")
    need(0 <= c.label_smoothing < 1, f"label smoothing must be in [0, 1), got {c.label_smoothing}")
    need(c.aux_weight >= 0, f"aux weight must be >= 0, got {c.aux_weight}")
    need(c.grad_clip is None or c.grad_clip > 0, f"gradient clipping norm must be positive, got {c.grad_clip}")
    need(c.ema_decay is None or 0 <= c.ema_decay < 1, f"EMA decay must be in [0, 1), got {c.ema_decay}")
    need(0 <= c.val_fraction < 1, f"val fraction must be in [0, 1), got {c.val_fraction}")
    need(c.lr_gamma > 0 and c.lr_step_epochs > 0, "lr_gamma and lr_step_epochs must be positive")
    need(c.warmup_epochs >= 0, f"warmup epochs must be >= 0, got {c.warmup_epochs}")
    need(c.rmsprop_eps > 0 and 0 < c.rmsprop_decay < 1, "RMSProp needs eps > 0 and decay in (0, 1)")
    need(c.workers is None or c.workers >= 0, f"workers must be >= 0, got {c.workers}")
    need(c.max_steps is None or c.max_steps >= 1, f"max steps must be >= 1, got {c.max_steps}")
    need(c.input_size is None or c.input_size >= 8, f"input size must be >= 8 pixels, got {c.input_size}")
    need(isinstance(c.model_kwargs, dict), "model_kwargs must be a table of builder arguments")
