"""Training: :func:`train` (also ``googlenet train``), recipes and configs, checkpoints, records, DDP.

::

    from googlenet.training import train, make_config
    summary = train(make_config("fast", dataset="fashion-mnist", epochs=3, out="runs/fmnist"))
    summary["test_top1"]

See docs/training.md for the recipes, the run folder's files, resuming and torchrun.
"""

from .config import RECIPES, TrainConfig, make_config, read_config_file
from .optim import Schedule
from .trainer import SeededView, TrainingInterrupted, summary_line, train, validate

#: The old name of :func:`validate` (a split's loss and accuracy during training); the crop protocols and
#: ensembles are :func:`googlenet.evaluation.evaluate`.
evaluate = validate

__all__ = [
    "RECIPES",
    "Schedule",
    "SeededView",
    "TrainConfig",
    "TrainingInterrupted",
    "evaluate",
    "validate",
    "make_config",
    "read_config_file",
    "summary_line",
    "train",
]
