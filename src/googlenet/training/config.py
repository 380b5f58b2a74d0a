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
* ``fast`` -- for CPU-scale runs (minutes): AdamW (lr 4e-3, decoupled weight decay 0.05) with a one-cycle
  schedule (warm up, then cosine down to 0), batch norm, no auxiliary heads (Rethinking..., section 4: they
  do not speed up early training), no augmentation (a 3-epoch run underfits), all of train (no val split;
  ``--val-fraction 0.1`` for val curves). docs/training.md#recipes compares it with SGD on the main job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError, require
from .optim import OPTIMIZERS, SCHEDULES


def setting(default: Any = dataclasses.MISSING, help: str = "", *, group: str, choices: tuple[str, ...] = (),
            flag: str | None = None, factory: Any = dataclasses.MISSING) -> Any:
    """A :class:`TrainConfig` field with what the CLI needs to make its flag: help, group, choices."""
    meta = {"help": help, "group": group, "choices": choices, "flag": flag}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Every training setting, declared once: the CLI's flags, their types, choices and help come from here
    (``googlenet train --help``), and so do config-file keys and ``--set KEY=VALUE``."""

    # what to train
    model: str = setting("googlenet", "registry name; see `googlenet models`", group="model")
    model_kwargs: dict[str, Any] = setting(help="builder arguments (CLI: --width, --model-arg ...)", group="model",
                                           factory=dict, flag="")
    init_from: str | None = setting(None, "start from the weights of this model file (another class count: its "
                                    "classifiers are replaced)", group="model")
    freeze: str = setting("none", "train only the classifiers (features: the pretrained trunk is frozen, its batch "
                          "norms in eval mode)", group="model", choices=("none", "features"))
    unfreeze_epoch: int | None = setting(None, "with --freeze features: train everything from this epoch on "
                                         "(counted from 0)", group="model")
    backbone_lr_mult: float = setting(1.0, "learning rate of the pretrained layers relative to --lr (with "
                                      "--init-from)", group="model")
    # data
    dataset: str = setting("fashion-mnist", "a registered dataset (googlenet.data.dataset_names(): fashion-mnist, "
                           "mnist, cifar10, imagenette...), or your folder or tarball", group="data")
    data_dir: str | None = setting(None, "where the dataset files are (else $GOOGLENET_DATA)", group="data")
    download: bool = setting(False, "download (Fashion-)MNIST if missing (needs internet)", group="data")
    val_fraction: float = setting(0.1, "held-out part of train when the data has no val split", group="data")
    split_seed: int = setting(0, "seed of that split", group="data")
    skip_bad_images: bool = setting(False, "skip (and count) images that fail to decode", group="data")
    input_size: int | None = setting(None, "image side fed to the model (default: the dataset's native size)",
                                     group="data")
    augment: str = setting("small", "training augmentation: paper (section 6), small (pad-crop), photo (random-resized "
                           "crop + flip on cached uint8 batches), flip (the whole photo resized, and flips), none",
                           group="data", choices=("paper", "small", "photo", "flip", "none"))
    eval_crop: float = setting(0.875, "photos: the centre fraction of a photo that evaluation resizes to the input "
                               "size (1.0: the whole photo)", group="data")
    crop_scale: float = setting(0.08, "smallest crop area of the random-resized crop (paper 0.08)", group="data")
    resize_schedule: str | None = setting(None, "progressive resizing: the input side of each epoch, e.g. "
                                          "96,112,128 (the last one continues)", group="data")
    fit_to_data: bool = setting(False, "batch size, epochs, input side and warm-up follow from the number and "
                                "size of the images (on for photos and a folder of small images); the ones you "
                                "set stay (docs/training.md#fit-to-data)",
                                group="data")
    cache: bool = setting(True, "decode photos once into a memory-mapped cache ($GOOGLENET_CACHE)", group="data")
    pad: int = setting(2, "small augmentation: padding before the random crop", group="data")
    hflip: bool | None = setting(None, "random horizontal flips (default: the dataset's)", group="data")
    color_jitter: float = setting(0.4, "paper augmentation: photometric distortion strength", group="data")
    workers: int | None = setting(None, "data loader processes (default 0 on CPU, 8 on GPU)", group="data")
    # optimisation
    recipe: str = setting("fast", "named settings (paper, inception-v3, fast, photos; default: photos for a dataset "
                          "of photos, else fast); see docs/training.md", group="run")
    epochs: int = setting(3, "passes over the training set", group="optimisation")
    batch_size: int = setting(128, "global batch (split across torchrun processes)", group="optimisation")
    optimizer: str = setting("sgd", "the optimizer (training/optim.py)", group="optimisation",
                             choices=tuple(OPTIMIZERS))
    lr: float = setting(0.1, "peak learning rate", group="optimisation")
    momentum: float = setting(0.9, "SGD / RMSProp momentum", group="optimisation")
    nesterov: bool = setting(True, "Nesterov momentum (SGD)", group="optimisation")
    weight_decay: float = setting(5e-4, "L2 penalty", group="optimisation")
    rmsprop_decay: float = setting(0.9, "RMSProp's decay", group="optimisation")
    rmsprop_eps: float = setting(1.0, "RMSProp's epsilon (v3 section 8: 1.0)", group="optimisation")
    schedule: str = setting("onecycle", "learning-rate schedule (training/optim.py)", group="optimisation",
                            choices=SCHEDULES)
    flat_fraction: float = setting(0.75, "flatcos: the part of the run at the peak rate before the cosine",
                                   group="optimisation")
    warmup_epochs: float = setting(0.5, "onecycle / cosine: epochs of linear warm-up", group="optimisation")
    lr_step_epochs: float = setting(8.0, "step schedule: epochs between decays", group="optimisation")
    lr_gamma: float = setting(0.96, "step schedule: factor per decay (paper: 4% every 8 epochs)",
                              group="optimisation")
    time_budget: str | None = setting(None, "train the best model that fits in this wall time, cache build and "
                                      "evaluation included (15m, 900s, 1h): plans the steps from the measured step "
                                      "time, the learning rate linear to 0 at the end (training/budget.py)",
                                      group="optimisation")
    label_smoothing: float = setting(0.0, "v3 section 7's label smoothing", group="optimisation")
    grad_clip: float | None = setting(None, "clip the gradient norm to this", group="optimisation")
    aux_weight: float = setting(0.3, "weight of each auxiliary loss (section 5: 0.3)", group="optimisation")
    ema_decay: float | None = setting(None, "average the weights with this decay per step (Polyak)",
                                      group="optimisation")
    # machinery
    seed: int = setting(0, "seed of initialisation and data order", group="run")
    device: str = setting("auto", "auto, cpu, cuda, cuda:N, mps", group="run")
    amp: str = setting("auto", "mixed precision: auto (on with CUDA), native (also on CPUs that compute bf16 "
                       "natively), on, off", group="run", choices=("auto", "native", "on", "off"))
    channels_last: str = setting("on", "channels_last memory format", group="run", choices=("on", "off"))
    compile: bool = setting(False, "torch.compile the model", group="run")
    sync_bn: bool = setting(False, "SyncBatchNorm under torchrun", group="run")
    out: str | None = setting(None, "run folder (default runs/<dataset>-<model>-<time>)", group="run")
    eval_test: bool = setting(True, "evaluate on the test split at the end", group="run", flag="test")
    max_steps: int | None = setting(None, "stop after this many optimizer steps (smoke tests)", group="run")
    threads: int | None = setting(None, "CPU threads for torch (default: torch's)", group="run")
    report: bool = setting(True, "write report.html into the run folder at the end", group="run")
    tensorboard: bool = setting(False, "also log losses, accuracy and learning rate for TensorBoard (RUN/tensorboard)",
                                group="run")

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
        # No augmentation: in 3 epochs the width-1/8 network underfits. AdamW, as the photos recipe's sweep
        # tried it; on the main job it matches SGD lr 0.1 / wd 5e-5 (docs/training.md#recipes).
        optimizer="adamw", lr=4e-3, weight_decay=0.05, schedule="onecycle",
        warmup_epochs=0.5, ema_decay=None, augment="none", pad=2, label_smoothing=0.0, grad_clip=None,
        epochs=3, batch_size=128,
        # All of train: an underfitting model gains from every image; the test split is the held-out
        # measure. --val-fraction 0.1 brings back per-epoch val figures.
        val_fraction=0.0,
        # batch norm: trains at a high learning rate from step 1; no LRN (BN replaces it);
        # width 1/8: 4.6M multiply-adds per 28x28 image instead of ~290M (docs/training.md).
        model_kwargs={"batch_norm": True, "lrn": False, "aux_logits": False, "width": 0.125},
    ),
    "photos": dict(
        # Natural photos in minutes on a CPU (docs/training.md#photos): the paper's modules at full width with
        # batch norm (not LRN), 5 epochs at 128 px, bf16 autocast where the CPU computes it natively. From the
        # Imagenette leaderboard's 5-epoch recipe, each change measured on our network one at a time
        # (docs/training.md, "The leaderboard's 5-epoch changes"), what paid: the whole photo resized plus flips
        # instead of random-resized crops, and Ranger (RAdam + Lookahead) with decoupled weight decay 1e-2 and a
        # flat-then-cosine schedule (RAdam's rectification stands in for warm-up); label smoothing 0.1. Then, on
        # our network (docs/training.md, "Beyond the leaderboard's changes"): section 5's auxiliary heads
        # trained beside the main head at weight 0.3, Ranger at 4e-3 rather than xresnet's 8e-3, and the rate decayed
        # linearly to 0 from the first step (Li, Yumer & Ramanan, Budgeted Training, section 4) in place of
        # flat-then-cosine: +1.05 points over 3 seeds on val. Batch 32 and Mish (on val), MaxBlurPool (on held-out
        # train), the deep stem and squeeze-excitation (on val) did not pay. Batch size, epochs and input side then
        # follow the photo set's size (fit_to_data, docs/training.md#fit-to-data); on Imagenette they stay as
        # written here.
        optimizer="ranger", momentum=0.95, lr=4e-3, weight_decay=1e-2, schedule="linear",
        warmup_epochs=0.0, ema_decay=None, augment="flip", eval_crop=1.0, hflip=True, label_smoothing=0.1,
        grad_clip=None, epochs=5, batch_size=64, input_size=128, resize_schedule=None, val_fraction=0.0,
        amp="native", aux_weight=0.3, fit_to_data=True,
        model_kwargs={"batch_norm": True, "lrn": False, "aux_logits": True, "width": 1.0},
    ),
}
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
#: Old spellings a user may have typed (setting -> {old: new}): refused with a line naming today's.
OLD_SPELLINGS = {"channels_last": {"auto": "on"}}


def setting_type(name: str) -> tuple[type | None, bool]:
    """The declared type of setting ``name`` (None for tables) and whether None is allowed."""
    text = str(FIELDS[name].type).replace(" ", "")
    optional = text.endswith("|None")
    return _TYPES.get(text.removesuffix("|None")), optional


def check_setting(name: str, value: Any, where: str = "") -> Any:
    """``value`` as setting ``name``'s declared type, or a one-line UserError naming the fix.

    A whole number is accepted for a float; a bool is not accepted for a number (JSON and TOML keep them
    apart, and ``lr = true`` is a typo)."""
    kind, optional = setting_type(name)
    origin = f" (in {where})" if where else ""
    if isinstance(value, str) and value in OLD_SPELLINGS.get(name, {}):
        raise UserError(f"{name} {value!r} is an old spelling{origin}; use {OLD_SPELLINGS[name][value]!r} "
                        f"(--{name.replace('_', '-')} {OLD_SPELLINGS[name][value]})")
    if value is None:
        if optional:
            return None
        raise UserError(f"{name} cannot be empty{origin}; give it a value, e.g. {name}={FIELDS[name].default!r}")
    if kind is None:
        if not isinstance(value, dict):
            raise UserError(f"{name} must be a table of key = value pairs{origin}, got {value!r}")
        return value
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        what = {int: "a whole number", float: "a number", str: "a word", bool: "true or false"}[kind]
        example = FIELDS[name].default if FIELDS[name].default not in (None, dataclasses.MISSING) else \
            {int: 1, float: 0.1, str: "x", bool: True}[kind]
        flag = "--" + name.replace("_", "-")
        raise UserError(f"{name} must be {what}, got {value!r}{origin}; e.g. {flag} {json.dumps(example)}")
    return value


CHOICES = {name: f.metadata["choices"] for name, f in FIELDS.items() if f.metadata["choices"]}


#: The builder options that have flags of their own (``--width``, ``--no-aux``): a config file, ``--set`` and
#: :func:`make_config` take them by the same names, beside ``model_kwargs``. Name -> builder argument.
MODEL_OPTIONS = {"num_classes": "num_classes", "in_channels": "in_channels", "width": "width",
                 "small_input": "small_input", "no_aux": "aux_logits"}


def fold_model_options(settings: dict[str, Any]) -> dict[str, Any]:
    """``{"width": 0.25, "no_aux": True}`` -> ``{"model_kwargs": {"width": 0.25, "aux_logits": False}}``, as the
    flags do: a switch (``small_input``, ``no_aux``) counts when true, another option when it is not None."""
    folded = {k: v for k, v in settings.items() if k not in MODEL_OPTIONS}
    kwargs: dict[str, Any] = {}
    for name, argument in MODEL_OPTIONS.items():
        value = settings.get(name)
        if name in ("small_input", "no_aux"):
            if value:
                kwargs[argument] = name == "small_input"  # no_aux = true builds without aux_logits
        elif value is not None:
            kwargs[argument] = value
    model_kwargs = folded.get("model_kwargs") or {}
    if kwargs and isinstance(model_kwargs, dict):  # a model_kwargs that is no table is left for check_setting
        folded["model_kwargs"] = {**model_kwargs, **kwargs}
    return folded


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file; keys are TrainConfig fields."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {str(path)!r} not found; check the path")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise UserError(f"config file {str(path)!r} is not UTF-8 text (byte {exc.start}); fix or rewrite it") from None
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
    return fold_model_options({k.replace("-", "_"): v for k, v in data.items()})


def default_recipe(dataset: str, data_dir: str | None = None) -> tuple[str, str]:
    """The recipe for ``dataset`` when none is named, and why: ``photos`` for photos, else ``fast``."""
    from ..data.registry import is_small_image_dataset

    if is_small_image_dataset(dataset):
        return "fast", f"{dataset} holds small images"
    side = _probe_side(str(dataset), data_dir)
    if side is None:  # unreadable or missing: the trainer names the problem; no recipe note before it
        return "fast", f"{dataset} could not be read"
    if side <= 64:
        return "fast", f"{dataset} holds {side}-pixel images"
    return "photos", f"{dataset} holds {side}-pixel photos"


def _probe_side(dataset: str, data_dir: str | None) -> int | None:
    """The longest side of the first few training images, or None when they cannot be read yet."""
    from ..data import load_dataset

    try:
        train = load_dataset(dataset, "train", data_dir=data_dir, val_fraction=0.0)
        return max(max(train[i][0].shape[-2:]) for i in range(min(4, len(train))))
    except Exception:  # the trainer reports a missing or broken dataset properly
        return None


def _applicable_kwargs(model: str, recipe: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The recipe's builder options that ``model``'s builder takes; a note for each one it does not."""
    import inspect
    import sys

    import torch

    from ..models.registry import create_model

    try:
        with torch.device("meta"):
            cls = type(create_model(model))
    except UserError:
        return dict(kwargs)  # an unknown model: the build will name the problem
    options = getattr(cls, "options_type", None)  # builders whose options are a dataclass (GoogLeNet)
    takes = {f.name for f in dataclasses.fields(options)} if options else inspect.signature(cls.__init__).parameters
    kept = {k: v for k, v in kwargs.items() if k in takes}
    dropped = [f"{k}={v!r}" for k, v in kwargs.items() if k not in takes]
    if dropped:
        print(f"googlenet: note: recipe {recipe!r} sets {', '.join(dropped)}, which {model} does not take; "
              "left out", file=sys.stderr)
    return kept


def _fine_tuning_settings(init_from: str, recipe_settings: dict[str, Any], *, told_size: bool) -> str:
    """Fine-tuning: the network is the pretrained file's (its registry name and builder options), not the
    recipe's, and so is its input size unless told otherwise (a 224-px ImageNet model fed 128-px crops sees
    its features at another scale); the classifier follows the data. Returns the model's name."""
    import sys

    from ..weights.checkpoint import read_model_metadata, resolve_model_path

    meta = read_model_metadata(resolve_model_path(init_from))
    recipe_settings["model"] = meta["model"]
    recipe_settings["model_kwargs"] = {k: v for k, v in meta["model_kwargs"].items()
                                       if k != "num_classes"}  # in_channels: the data is converted to it
    pre = meta.get("preprocessing") or {}
    size = _field(pre, "input_size")
    kept = [f"its input size, {int(size)} px" if size and not told_size else "",
            "its normalization" if source_normalization(pre) else ""]
    if size and not told_size:
        recipe_settings["input_size"] = int(size)
        recipe_settings["resize_schedule"] = None
    if any(kept):
        print(f"googlenet: note: --init-from {Path(init_from).name}: training with {' and '.join(k for k in kept if k)}"
              f"{' (--input-size N for another size)' if kept[0] else ''}", file=sys.stderr, flush=True)
    return str(meta["model"])


def _field(record: Any, name: str) -> Any:
    """A field of a model file's preprocessing record, a dict or a dataclass."""
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def source_normalization(pre: Any) -> tuple[list[float], list[float]] | None:
    """The mean and std a pretrained model was trained with, when the training pipelines can feed them (RGB or
    grey pixels in [0, 1]); None for Caffe's BGR 0-255 input or a record without them."""
    mean, std = _field(pre, "mean"), _field(pre, "std")
    order, scale = _field(pre, "channel_order") or "rgb", _field(pre, "scale") or 1.0
    if not mean or not std or str(order).lower() not in ("rgb", "grey", "gray", "l") or float(scale) != 1.0:
        return None
    return [float(m) for m in mean], [float(s) for s in std]


def make_config(recipe: str | None = None, file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults < recipe < file < overrides (``None`` overrides are ignored), validated."""
    settings: dict[str, Any] = {}
    from_file = read_config_file(file) if file else {}
    recipe, why = recipe or overrides.get("recipe") or from_file.get("recipe"), None
    if not recipe:
        dataset = overrides.get("dataset") or from_file.get("dataset") or TrainConfig.dataset
        recipe, why = default_recipe(dataset, overrides.get("data_dir") or from_file.get("data_dir"))
    if recipe not in RECIPES:
        raise UserError(f"unknown recipe {recipe!r}; use one of {', '.join(RECIPES)}")
    model_kwargs: dict[str, Any] = {}
    explicit = fold_model_options({k: v for k, v in overrides.items() if v is not None})
    model = explicit.get("model") or from_file.get("model") or TrainConfig.model
    recipe_settings = dict(RECIPES[recipe])
    init_from = explicit.get("init_from") or from_file.get("init_from")
    if init_from and not (explicit.get("model") or from_file.get("model")):
        told_size = explicit.get("input_size") or from_file.get("input_size")
        model = _fine_tuning_settings(str(init_from), recipe_settings, told_size=told_size is not None)
    elif recipe_settings.get("model_kwargs"):  # keep the recipe's builder options this model takes, and say so
        recipe_settings["model_kwargs"] = _applicable_kwargs(str(model), recipe, recipe_settings["model_kwargs"])
    layers = ((recipe_settings, f"recipe {recipe!r}"), (from_file, f"config file {str(file)!r}"), (explicit, ""))
    for layer, where in layers:
        for key, value in layer.items():
            if key not in FIELDS:
                import difflib

                close = difflib.get_close_matches(key, FIELDS, n=1)
                raise UserError(f"unknown training setting {key!r}"
                                f"{f'; did you mean {close[0]!r}?' if close else ''} (see docs/training.md)")
            value = check_setting(key, value, where)
            if key == "model_kwargs":
                model_kwargs.update(value or {})
            else:
                settings[key] = value
    config = TrainConfig(**settings, model_kwargs=model_kwargs)
    config.recipe = recipe
    validate(config)
    if why and recipe == "fast" and "fit_to_data" not in {*from_file, *explicit}:
        from ..data.registry import is_small_image_dataset

        # The fast recipe's constants hold where they were tuned (the registry's small-image sets); a user's
        # set of small images gets them fitted to its size, as photos do (training/datafit.py).
        config.fit_to_data = not is_small_image_dataset(config.dataset)
    # What was chosen for the data is said when the trainer starts (``config.chosen_notes``, not a setting: not
    # in asdict(config), not saved), so a bad flag found while the data are opened is the run's one line.
    config.chosen_notes = []
    if config.fit_to_data and not config.init_from:
        fit_to_data(config, pinned=tuple(k for k in (*from_file, *explicit) if k in FIELDS))
    if why and recipe != "fast":  # chosen for the data: say so, with the settings it gave after every override
        config.chosen_notes.append(f"googlenet: recipe {recipe}: {why}; {_settings_line(config)} (name another "
                                   "with --recipe)")
    return config


def _settings_line(c: TrainConfig) -> str:
    """``GoogLeNet at width 0.25, 2 epochs at 64 px``: what a recipe chose, as the run will use it."""
    width = c.model_kwargs.get("width")
    size = f"{c.input_size} px" if c.input_size else "the images' size"
    steps = f" (at most {c.max_steps} steps)" if c.max_steps else ""
    return (f"{c.model}{f' at width {width:g}' if width is not None else ''}, {c.epochs} epoch"
            f"{'s' if c.epochs != 1 else ''}{steps} at {size}")


def fit_to_data(config: TrainConfig, pinned: tuple[str, ...] = ()) -> None:
    """Refit the data-dependent settings of ``config`` to its dataset's size (training/datafit.py), in place,
    and add the line saying what was chosen to ``config.chosen_notes`` (the trainer prints it when it starts).
    Leaves the config as it is when the dataset cannot be read yet (the trainer then names the problem)."""
    from ..data import load_dataset
    from .datafit import FITTED, DataFacts, fit

    if all(key in pinned for key in FITTED):  # a resumed run, or every such setting named: nothing to fit
        return
    try:
        train = load_dataset(config.dataset, "train", data_dir=config.data_dir, val_fraction=config.val_fraction,
                             split_seed=config.split_seed, skip_bad_images=config.skip_bad_images)
        facts = DataFacts.measure(train)
    except Exception:  # noqa: BLE001 - a missing or broken dataset is reported by the trainer
        return
    from .datafit import RECIPE_STEPS

    chosen = fit(facts, batch_size=config.batch_size, epochs=config.epochs,
                 input_size=config.input_size or facts.median_side or 128,
                 warmup_epochs=config.warmup_epochs, pinned=pinned,
                 reference_steps=RECIPE_STEPS.get(config.recipe, RECIPE_STEPS["photos"]))
    config.batch_size, config.epochs, config.warmup_epochs = chosen.batch_size, chosen.epochs, chosen.warmup_epochs
    if config.input_size is not None:  # the fast recipe reads images at their own size: only the rest follows
        config.input_size = chosen.input_size
    notes = getattr(config, "chosen_notes", None)
    config.chosen_notes = [*(notes or []), chosen.line()]


def validate(c: TrainConfig) -> None:
    """Raise a UserError naming the fix for impossible settings."""
    for name in FIELDS:  # infinity passes every range check below that NaN fails; refuse both alike
        value = getattr(c, name)
        if isinstance(value, float) and not math.isfinite(value):
            default = FIELDS[name].default
            example = f"; e.g. --{name.replace('_', '-')} {default}" if isinstance(default, float) else ""
            raise UserError(f"{name} must be a finite number, got {value}{example}")
    for key, options in CHOICES.items():
        require(getattr(c, key) in options, f"{key} must be one of {', '.join(options)}, got {getattr(c, key)!r}")
    require(isinstance(c.epochs, int) and c.epochs >= 1, f"epochs must be a whole number >= 1, got {c.epochs!r}")
    require(isinstance(c.batch_size, int) and c.batch_size >= 1,
         f"batch size must be a whole number >= 1, got {c.batch_size!r}; e.g. --batch-size 128")
    require(c.lr > 0, f"learning rate must be positive, got {c.lr}; e.g. --lr 0.1")
    require(c.weight_decay >= 0, f"weight decay must be >= 0, got {c.weight_decay}")
    require(0 <= c.momentum < 1, f"momentum must be in [0, 1), got {c.momentum}")
    require(0 <= c.label_smoothing < 1, f"label smoothing must be in [0, 1), got {c.label_smoothing}")
    require(c.aux_weight >= 0, f"aux weight must be >= 0, got {c.aux_weight}")
    require(c.grad_clip is None or c.grad_clip > 0, f"gradient clipping norm must be positive, got {c.grad_clip}")
    require(c.ema_decay is None or 0 <= c.ema_decay < 1, f"EMA decay must be in [0, 1), got {c.ema_decay}")
    require(0 <= c.val_fraction < 1, f"val fraction must be in [0, 1), got {c.val_fraction}")
    require(c.lr_gamma > 0 and c.lr_step_epochs > 0, "lr_gamma and lr_step_epochs must be positive")
    require(c.warmup_epochs >= 0, f"warmup epochs must be >= 0, got {c.warmup_epochs}")
    require(c.rmsprop_eps > 0 and 0 < c.rmsprop_decay < 1, "RMSProp needs eps > 0 and decay in (0, 1)")
    require(c.workers is None or c.workers >= 0, f"workers must be >= 0, got {c.workers}")
    require(c.threads is None or c.threads >= 1, f"threads must be >= 1, got {c.threads}; e.g. --threads 2")
    require(c.epochs <= 100_000, f"epochs must be at most 100000, got {c.epochs}")
    require(c.backbone_lr_mult >= 0, f"backbone_lr_mult must be >= 0, got {c.backbone_lr_mult}; e.g. 0.1")
    require(c.freeze == "none" or c.init_from, "--freeze features needs pretrained weights: add --init-from MODEL")
    require(c.unfreeze_epoch is None or (c.freeze == "features" and 0 <= c.unfreeze_epoch),
            f"--unfreeze-epoch {c.unfreeze_epoch} needs --freeze features and a count >= 0")
    require(0 < c.eval_crop <= 1, f"eval_crop must be in (0, 1], got {c.eval_crop}; e.g. --eval-crop 0.875")
    require(0 <= c.flat_fraction < 1, f"flat_fraction must be in [0, 1), got {c.flat_fraction}; e.g. 0.75")
    require(0 < c.crop_scale <= 1, f"crop_scale must be in (0, 1], got {c.crop_scale}; e.g. --crop-scale 0.35")
    if c.resize_schedule:
        parse_sizes(c.resize_schedule)
    if c.time_budget is not None:
        from .budget import parse_duration

        parse_duration(c.time_budget)
    require(c.max_steps is None or c.max_steps >= 1, f"max steps must be >= 1, got {c.max_steps}")
    require(c.input_size is None or c.input_size >= 8, f"input size must be >= 8 pixels, got {c.input_size}")
    require(isinstance(c.model_kwargs, dict), "model_kwargs must be a table of builder arguments")


def parse_sizes(text: str) -> list[int]:
    """``"96,112,128"`` -> ``[96, 112, 128]``: the input side of each epoch (progressive resizing)."""
    try:
        sizes = [int(part) for part in str(text).replace(" ", "").split(",") if part]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 8:
        raise UserError(f"resize_schedule must be input sides of at least 8 px separated by commas, got {text!r}; "
                        "e.g. --resize-schedule 96,112,128")
    return sizes
