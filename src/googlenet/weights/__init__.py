"""Model files: ours (safetensors with the model's name, arguments, classes and preprocessing) and the
foreign formats we import (torchvision and timm state dicts, BVLC Caffe's caffemodel).

:func:`import_weights` turns a foreign weights file into ``(model_name, model, class_names,
preprocessing)``; :func:`import_to_file` writes it as our model file. :func:`create_model` (also
``googlenet.create_model``) takes ``pretrained=True | "tag" | path``; :func:`list_pretrained` names the released
weights the registry knows (:mod:`.pretrained`). ImageNet class names: :mod:`googlenet.data.imagenet`.
"""

from .checkpoint import LoadedModel, load_model, read_model_metadata, resolve_model_path, save_model
from .importer import KINDS, ImportedWeights, import_to_file, import_weights
from .pretrained import PretrainedEntry, create_model, list_pretrained, pretrained_entry

__all__ = ["KINDS", "ImportedWeights", "LoadedModel", "PretrainedEntry", "create_model", "import_to_file",
           "import_weights", "list_pretrained", "load_model", "pretrained_entry", "read_model_metadata",
           "resolve_model_path", "save_model"]
