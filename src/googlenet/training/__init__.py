"""Training: :func:`train` (also ``googlenet train``), recipes and configs, checkpoints, records, DDP.

::

    from googlenet.training import train, make_config
    summary = train(make_config("fast", dataset="fashion-mnist", epochs=3, out="runs/fmnist"))
    summary["test_top1"]

See docs/training.md for the recipes, the run folder's files, resuming and torchrun.
"""

from .config import RECIPES, TrainConfig, make_config, read_config_file
from .trainer import Schedule, SeededView, TrainingInterrupted, evaluate, summary_line, train

__all__ = [
    "RECIPES",
    "Schedule",
    "SeededView",
    "TrainConfig",
    "TrainingInterrupted",
    "evaluate",
    "make_config",
    "read_config_file",
    "summary_line",
    "train",
]
