"""Model files: ours (safetensors with the model's name, arguments, classes and preprocessing) and the
foreign formats we import (torchvision and timm state dicts, BVLC Caffe's caffemodel).

:func:`import_weights` turns a foreign weights file into ``(model_name, model, class_names,
preprocessing)``; :func:`import_to_file` writes it as our model file. ImageNet class names: :mod:`.imagenet`.
"""

from .checkpoint import LoadedModel, load_model, read_model_metadata, resolve_model_path, save_model
from .importer import KINDS, ImportedWeights, import_to_file, import_weights

__all__ = ["KINDS", "ImportedWeights", "LoadedModel", "import_to_file", "import_weights", "load_model",
           "read_model_metadata", "resolve_model_path", "save_model"]
