"""Training: :func:`train` (also ``googlenet train``), recipes and configs, checkpoints, records, DDP.

::

    from googlenet.training import train, make_config
    summary = train(make_config("fast", dataset="fashion-mnist", epochs=3, out="runs/fmnist"))
    summary["test_top1"]

See docs/training.md for the recipes, the run folder's files, resuming and torchrun.
"""

from .config import RECIPES, TrainConfig, make_config, read_config_file

# The loop (and torch) load on first use, so that the CLI reads TrainConfig's settings without them.
_LAZY = {"RunSettings": ".trainer", "Schedule": ".optim", "SeededView": ".trainer", "TrainingInterrupted": ".trainer",
         "summary_line": ".trainer", "train": ".trainer", "validate": ".trainer"}

__all__ = [
    "RECIPES",
    "RunSettings",
    "Schedule",
    "SeededView",
    "TrainConfig",
    "TrainingInterrupted",
    "validate",
    "make_config",
    "read_config_file",
    "summary_line",
    "train",
]


def __getattr__(name: str):
    if name == "evaluate":  # the old name of validate; it also hid googlenet.evaluation.evaluate
        raise AttributeError("googlenet.training.evaluate is now googlenet.training.validate (a split's loss and "
                             "accuracy during training); the crop protocols and ensembles are "
                             "googlenet.evaluation.evaluate")
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
