"""The recipes table of docs/training.md, rendered from :data:`~googlenet.training.config.RECIPES` (a test holds the
docs to it, so the page cannot describe settings the code no longer has).

``python -m googlenet.training.recipe_table`` prints it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..models.googlenet import GoogLeNetOptions
from .config import FIELDS, RECIPES

#: Where each recipe comes from (the paper's section, or this project's docs section with its measurements).
SOURCES = {
    "paper": "GoogLeNet section 6",
    "inception-v3": "Rethinking the Inception Architecture, sections 7-8",
    "fast": "this project, for CPU minutes ([the 15-minute recipe](#the-15-minute-recipe))",
    "photos": "this project, with the Imagenette leaderboard's 5-epoch settings ([photos](#photos))",
}


def recipe_settings(recipe: str) -> dict[str, Any]:
    """Every setting ``recipe`` trains with: TrainConfig's defaults under the recipe's own."""
    defaults = {name: f.default for name, f in FIELDS.items() if name != "model_kwargs"}
    return {**defaults, "model_kwargs": {}, **RECIPES[recipe]}


def _optimizer(s: dict[str, Any]) -> str:
    name = s["optimizer"]
    if name == "sgd":
        text = f"SGD, {'Nesterov ' if s['nesterov'] and s['momentum'] > 0 else ''}momentum {s['momentum']:g}"
    elif name == "rmsprop":
        text = f"RMSProp, decay {s['rmsprop_decay']:g}, epsilon {s['rmsprop_eps']:g}, momentum {s['momentum']:g}"
    elif name == "ranger":
        text = f"Ranger (RAdam + Lookahead), betas ({s['momentum']:g}, 0.999)"
    else:
        text = {"adamw": "AdamW"}.get(name, name)
    decoupled = "decoupled " if name in ("adamw", "ranger") else ""
    return f"{text}, {decoupled}weight decay {s['weight_decay']:g}"


def _schedule(s: dict[str, Any]) -> str:
    lr, warmup = f"{s['lr']:g}", f"{s['warmup_epochs']:g}"
    return {
        "step": f"{lr}, x{s['lr_gamma']:g} every {s['lr_step_epochs']:g} epochs",
        "onecycle": f"one cycle: linear warm-up for {warmup} epoch to {lr}, cosine down to 0",
        "cosine": f"{lr} after {warmup} epoch of warm-up, cosine down to 0",
        "flatcos": f"{lr} for {s['flat_fraction']:.0%} of the run, then cosine down to 0",
        "linear": f"{lr}, linear down to 0",
        "constant": f"{lr} throughout",
    }.get(s["schedule"], f"{s['schedule']} from {lr}")


def _augmentation(s: dict[str, Any]) -> str:
    crops = f"{s['crop_scale']:.0%}-100% area crops"
    return {
        "paper": f"`paper`: {crops}, aspect 3/4-4/3, random interpolation, flips, photometric jitter "
                 f"{s['color_jitter']:g}",
        "small": f"`small`: pad {s['pad']}, random crop, flip",
        "photo": f"`photo`: random-resized {crops}, flips",
        "flip": "`flip`: the whole photo resized, and flips",
        "none": "none",
    }.get(s["augment"], s["augment"])


def _model(kwargs: dict[str, Any]) -> str:
    parts = []
    if kwargs.get("batch_norm"):
        parts.append("batch norm")
    if kwargs.get("lrn") is False:
        parts.append("no LRN")
    if kwargs.get("aux_logits") is False:
        parts.append("no aux heads")
    if "width" in kwargs:
        parts.append(f"width {kwargs['width']:g}")
    # The options beyond the paper (another activation, the deep stem, ...), in GoogLeNet's own words.
    known = {f.name for f in dataclasses.fields(GoogLeNetOptions)}
    parts += GoogLeNetOptions(**{k: v for k, v in kwargs.items() if k in known}).additions()
    return ", ".join(parts) or "as published"


def _rows(s: dict[str, Any]) -> dict[str, str]:
    aux = s["model_kwargs"].get("aux_logits", True)
    extras = [f"label smoothing {s['label_smoothing']:g}"] if s["label_smoothing"] else []
    extras += [f"gradient norm clipped at {s['grad_clip']:g}"] if s["grad_clip"] else []
    return {
        "optimizer": _optimizer(s),
        "learning rate": _schedule(s),
        "epochs, batch": f"{s['epochs']} epochs, batch {s['batch_size']}",
        "fitted to the data": ("batch, epochs, input side and warm-up follow the data's size "
                               "([fit to the data](#fit-to-the-data))" if s.get("fit_to_data") else "-"),
        "weights used for evaluation": (f"exponential moving average, decay {s['ema_decay']:g} per step"
                                        if s["ema_decay"] else "the trained weights"),
        "val split": (f"{s['val_fraction']:.0%} of train" if s["val_fraction"]
                      else "none: all of train (`--val-fraction 0.1` for val curves)"),
        "auxiliary losses": f"weight {s['aux_weight']:g} (section 5)" if aux else "model built without aux heads",
        "other": ", ".join(extras) or "-",
        "augmentation": _augmentation(s),
        "input size": f"{s['input_size']} px" if s["input_size"] else "the dataset's",
        "evaluation view (photos)": (f"the centre {s['eval_crop']:.1%}, resized" if s["eval_crop"] < 1
                                     else "the whole photo, resized"),
        "mixed precision (`--amp`)": s["amp"],
        "model options": _model(s["model_kwargs"]),
    }


def recipe_table(recipes: tuple[str, ...] | None = None) -> str:
    """The markdown table: one column per recipe, one row per kind of setting, the values as the code has them."""
    recipes = tuple(recipes or RECIPES)
    columns = {r: {"source": SOURCES.get(r, "-"), **_rows(recipe_settings(r))} for r in recipes}
    head = ["", *(f"`{r}`" + (" (default)" if r == FIELDS["recipe"].default else "") for r in recipes)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in columns[recipes[0]]:
        lines.append("| " + " | ".join([row, *(columns[r][row] for r in recipes)]) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(recipe_table())
