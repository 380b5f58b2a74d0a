"""``--time-budget``: train the best model that fits in a given wall time.

Budgeted Training (Li, Yumer & Ramanan, ICLR 2020) shows that under a fixed budget the learning rate should
decay linearly to zero exactly at the budget's end, whatever the budget; so the plan is a number of steps
and a linear schedule ending on the last one. The step time is measured, not guessed: after the first steps
of the run (the cache build and start-up already spent and counted), and again after each epoch, the
planner fits the remaining steps, the per-epoch evaluations and the final one into what is left. On another
machine (a GPU, torchrun's processes) it plans with that machine's step time, because it measures it.

Pure arithmetic over given times, so it is tested with a fake clock (tests/test_photos_recipe.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import UserError

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
#: The part of the budget kept free for what the plan cannot see (writing the report, the last checkpoint).
MARGIN = 0.02
#: A forward pass of evaluation costs about a third of a training step's forward + backward per image.
EVAL_COST_PER_TRAIN_COST = 1 / 3


def parse_duration(text: str | float) -> float:
    """``"15m"``, ``"90s"``, ``"1h"``, ``"1h30m"``, ``"900"`` (seconds) -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", str(text).strip().lower())
        rest = re.sub(r"(\d+(?:\.\d+)?)\s*([a-z]*)", "", str(text).strip().lower()).strip()
        if not parts or rest or any(unit not in _UNITS and unit for _, unit in parts):
            raise UserError(f"time budget {text!r} is not a duration; write it as 15m, 900s, 1h or 1h30m")
        seconds = sum(float(n) * _UNITS.get(unit or "s", 1) for n, unit in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"time budget must be a positive duration, got {text!r}; e.g. --time-budget 15m")
    return seconds


@dataclass(frozen=True)
class BudgetPlan:
    """What fits: ``total_steps`` optimizer steps over ``epochs`` epochs (the last one may be partial)."""

    budget_s: float
    total_steps: int
    steps_per_epoch: int
    step_s: float
    eval_s: float  # all evaluations still to come
    elapsed_s: float

    @property
    def epochs(self) -> int:
        return math.ceil(self.total_steps / self.steps_per_epoch)

    @property
    def predicted_s(self) -> float:
        """Wall time at the end: spent so far, the steps still to run, and every evaluation still to come."""
        return self.elapsed_s + self.remaining_steps * self.step_s + self.eval_s

    remaining_steps: int = 0
    evaluations: int = 0

    def line(self, side: int) -> str:
        return (f"googlenet: time budget {_fmt(self.budget_s)}: {self.total_steps:,} steps "
                f"({self.total_steps / self.steps_per_epoch:.1f} epochs at {side} px, {self.step_s:.2f} s a step), "
                f"learning rate linear to 0 at step {self.total_steps:,}, {self.evaluations} evaluation(s) in "
                f"~{self.eval_s:.0f} s; ends after about {_fmt(self.predicted_s)}")


def _fmt(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def eval_seconds(images: int, batch_size: int, step_s: float) -> float:
    """One evaluation pass over ``images``, from the measured training step (forward + backward of a batch)."""
    return images / batch_size * step_s * EVAL_COST_PER_TRAIN_COST


def plan(budget_s: float, *, elapsed_s: float, steps_done: int, step_s: float, steps_per_epoch: int,
         epoch_eval_s: float = 0.0, final_eval_s: float = 0.0, can_stop_now: bool = False) -> BudgetPlan:
    """The most steps that fit in ``budget_s`` (less :data:`MARGIN`), counting ``elapsed_s`` already spent:
    each epoch ends with an evaluation of ``epoch_eval_s`` (the val split; 0 without one), the run with one of
    ``final_eval_s`` (the test split).

    Raises a one-line UserError when not even one epoch and its evaluations fit, naming the minimum; a re-plan
    during the run (``can_stop_now``) that finds no room for another step ends the run where it is instead."""
    usable = budget_s * (1 - MARGIN)
    # Largest total T with elapsed + (T - done) * step + epochs(T) * epoch_eval + final_eval <= usable;
    # epochs(T) is a step function of T, so solve for each count of epochs and keep the largest that fits.
    best = None
    finished = steps_done // steps_per_epoch  # epochs whose evaluation is already in elapsed_s
    max_epochs = finished + max(1, int((usable - elapsed_s) / max(step_s * steps_per_epoch, 1e-9)) + 2)
    for epochs in range(1, max_epochs + 1):
        room = usable - elapsed_s - (epochs - finished) * epoch_eval_s - final_eval_s
        steps = min(epochs * steps_per_epoch, steps_done + int(room / step_s)) if room > 0 else 0
        if steps > (epochs - 1) * steps_per_epoch and steps > steps_done:
            best = (steps, epochs)
    needed = (elapsed_s + max(0, steps_per_epoch - steps_done) * step_s + epoch_eval_s + final_eval_s) / (1 - MARGIN)
    if best is None and can_stop_now:
        return BudgetPlan(budget_s, steps_done, steps_per_epoch, step_s, final_eval_s, elapsed_s,
                          evaluations=int(final_eval_s > 0))
    if best is None or best[0] < steps_per_epoch:
        raise UserError(f"time budget {_fmt(budget_s)} is shorter than one epoch and its evaluation at this speed "
                        f"({_fmt(needed)} needed: {steps_per_epoch} steps of {step_s:.2f} s); give --time-budget "
                        f"{math.ceil(needed / 60)}m or more, or a smaller --input-size")
    total, epochs = best
    evals = (epochs - finished) * epoch_eval_s + final_eval_s
    return BudgetPlan(budget_s, total, steps_per_epoch, step_s, evals, elapsed_s, remaining_steps=total - steps_done,
                      evaluations=(epochs - finished) * (epoch_eval_s > 0) + (final_eval_s > 0))
