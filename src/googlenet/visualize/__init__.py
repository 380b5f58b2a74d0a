"""Pictures of the networks: class activation maps, feature maps and filters, the architecture diagram
(Figure 3 of the GoogLeNet paper, drawn from the real modules) and a self-contained HTML run report. (The
TensorBoard logger of training runs is :class:`googlenet.training.tensorboard.TensorBoardLogger`.)

Submodules are imported on use (matplotlib, graphviz, pytorch-grad-cam and tensorboard are heavy or
optional), so ``import googlenet.visualize`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "class_activation_map": "cam", "explain": "cam", "explain_files": "cam", "Explanation": "cam",
    "gradcam_map": "cam", "save_overlay": "cam",
    "feature_maps": "features", "save_feature_maps": "features", "first_conv_filters": "features",
    "save_filters": "features",
    "build_diagram": "diagram", "render_diagram": "diagram", "Diagram": "diagram",
    "run_report": "report", "write_run_report": "report", "compare_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
