"""The models: one file per family, each built from its paper's tables, and the registry that finds them.

Infrastructure (imported by the families, never the other way round):

* :mod:`.registry` -- ``register_model``, ``create_model``, ``list_models``, ``model_info``.
* :mod:`.interface` -- the interface every model has (``forward_features``, ``forward_head``,
  ``get_classifier``, ``reset_classifier``), as timm users expect.
* :mod:`.blocks` -- conv-BN-ReLU and the other shared blocks; the input and argument checks.
* :mod:`.spec` -- the later Inception papers' figures as data (``Conv``, ``Pool``, ``Mixed``...).
* :mod:`.cnn_spec` -- the classic CNNs' layer strings (``"conv11-96/4"``).
* :mod:`.outputs` -- what a model returns with its auxiliary heads, and ``split_outputs``.

Every other module is a family and registers its builders when the registry first looks.
"""

from .registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]
