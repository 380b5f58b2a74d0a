"""googlenet: GoogLeNet exactly as the paper, its successors and the CNNs it is measured against."""

from .errors import DataError, UserError
from .models.registry import ModelInfo, list_models, model_info, register_model

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "ModelInfo",
    "UserError",
    "create_model",
    "list_models",
    "list_pretrained",
    "model_info",
    "register_model",
    "summary",
    "__version__",
]


def __getattr__(name: str):
    # Heavier pieces load on first use, so `import googlenet` stays quick.
    if name in ("create_model", "list_pretrained"):  # create_model(name, pretrained=...): weights/pretrained.py
        from .weights import pretrained

        return getattr(pretrained, name)
    if name == "summary":
        from .inspect.tables import summary

        return summary
    raise AttributeError(f"module 'googlenet' has no attribute {name!r}")
