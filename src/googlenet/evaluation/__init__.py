"""Evaluate like the paper: 1/10/144-crop testing, softmax-averaged ensembles, top-1/top-5 metrics.

* :class:`CropProtocol` -- the crops of section 7 (144), AlexNet's 10, or one centre crop.
* :class:`Ensemble` -- one or more model files, softmax averaged over crops and models.
* :class:`Metrics` -- top-1/top-5, per-class accuracy, confusion matrix (PNG and JSON).
* :func:`evaluate` -- all of it on a dataset split (needs :mod:`googlenet.data`).
"""

from .crops import CROP_SETTINGS, PAPER_SCALES, CropProtocol
from .ensemble import Ensemble, Member
from .metrics import Metrics

__all__ = ["CROP_SETTINGS", "PAPER_SCALES", "CropProtocol", "Ensemble", "Member", "Metrics", "evaluate",
           "EvalOptions", "EvalResult"]


def __getattr__(name: str):
    if name in ("evaluate", "EvalOptions", "EvalResult"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
