"""Model files: ours (safetensors with the model's name, arguments, classes and preprocessing) and the
foreign formats we import (torchvision and timm state dicts, BVLC Caffe's caffemodel).
"""

from .checkpoint import LoadedModel, load_model, read_model_metadata, resolve_model_path, save_model

__all__ = ["LoadedModel", "load_model", "read_model_metadata", "resolve_model_path", "save_model"]
