"""Optimizers and learning-rate schedules, each a name -> factory table: a new one is one entry here, and
``TrainConfig``'s choices (the CLI's too) come from these tables.

Torch is imported inside the factories, so that naming the choices (building the CLI's parser) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import UserError


def _sgd(params: list[dict[str, Any]], c: Any):
    import torch

    return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov and c.momentum > 0,
                           weight_decay=c.weight_decay)


def _rmsprop(params: list[dict[str, Any]], c: Any):
    import torch

    # Rethinking the Inception Architecture, section 8: decay 0.9, epsilon 1.0.
    return torch.optim.RMSprop(params, lr=c.lr, alpha=c.rmsprop_decay, eps=c.rmsprop_eps, momentum=c.momentum,
                               weight_decay=c.weight_decay)


def _adamw(params: list[dict[str, Any]], c: Any):
    import torch

    return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)


def _ranger(params: list[dict[str, Any]], c: Any):
    """RAdam inside Lookahead (k=6, alpha=0.5) with gradient centralization: the optimizer of the Imagenette
    leaderboard's 5-epoch entries (docs/training.md#photos), from the pytorch-optimizer package. Its weight
    decay is decoupled (AdamW's), as theirs was."""
    try:
        from pytorch_optimizer import Ranger
    except ImportError:
        raise UserError("optimizer 'ranger' needs pytorch-optimizer; install it with: pip install pytorch-optimizer "
                        "(or choose --optimizer sgd)") from None
    return Ranger(params, lr=c.lr, betas=(c.momentum, 0.999), weight_decay=c.weight_decay, weight_decouple=True)


OPTIMIZERS: dict[str, Callable[[list[dict[str, Any]], Any], Any]] = {
    "sgd": _sgd, "rmsprop": _rmsprop, "adamw": _adamw, "ranger": _ranger,
}


def build_optimizer(params: list[dict[str, Any]], config: Any):
    """The optimizer ``config.optimizer`` names, over ``params`` (torch parameter groups)."""
    return OPTIMIZERS[config.optimizer](params, config)


# -- schedules: the learning-rate multiplier at a fraction of the run, after warm-up ------------------------


def _cosine(progress: float, flat: float) -> float:  # noqa: ARG001
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _flat_cosine(progress: float, flat: float) -> float:
    """fastai's ``fit_flat_cos``, used by the leaderboard: the peak rate for ``flat`` of the run, then cosine to 0."""
    if progress <= flat:
        return 1.0
    return _cosine((progress - flat) / max(1e-12, 1.0 - flat), flat)


def _linear(progress: float, flat: float) -> float:  # noqa: ARG001
    """Linear decay to zero at the end: Li, Yumer & Ramanan, Budgeted Training (ICLR 2020), section 4."""
    return 1.0 - progress


def _constant(progress: float, flat: float) -> float:  # noqa: ARG001
    return 1.0


#: Shapes after warm-up, by schedule name; ``step`` is the paper's and is computed from epochs (see Schedule).
DECAYS: dict[str, Callable[[float, float], float]] = {
    "onecycle": _cosine, "cosine": _cosine, "flatcos": _flat_cosine, "linear": _linear, "constant": _constant,
}
SCHEDULES: tuple[str, ...] = ("step", *DECAYS)


class Schedule:
    """Learning-rate multiplier per optimizer step (a plain object, so the scheduler state is plain data).

    * ``step``: ``gamma ** floor(epoch / step_epochs)`` (paper: 0.96 every 8 epochs; v3: 0.94 every 2).
    * ``onecycle`` / ``cosine``: linear warm-up from 0 over ``warmup`` epochs, then cosine down to 0 at the end.
    * ``flatcos``: warm-up, the peak until ``flat`` of the run, then cosine to 0 (fastai's flat-cos).
    * ``linear``: warm-up, then linear to 0 at the end (budgeted training).
    * ``constant``: 1 (no warm-up).
    """

    def __init__(self, kind: str, steps_per_epoch: int, epochs: int, warmup: float, step_epochs: float,
                 gamma: float, flat: float = 0.75, total_steps: int | None = None) -> None:
        self.kind, self.spe, self.epochs = kind, steps_per_epoch, epochs
        self.warmup, self.step_epochs, self.gamma, self.flat = warmup, step_epochs, gamma, flat
        self.total_steps = total_steps  # a run that ends inside an epoch (--time-budget, training/budget.py)

    def __call__(self, step: int) -> float:
        epoch = step / self.spe
        if self.kind == "step":
            return self.gamma ** math.floor(epoch / self.step_epochs + 1e-9)
        if self.kind == "constant":
            return 1.0
        total, warm = self.total_steps or self.epochs * self.spe, self.warmup * self.spe
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1.0, total - warm))
        return DECAYS[self.kind](progress, self.flat)
