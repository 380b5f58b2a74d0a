"""How a model's input is made from an image: one typed record, :class:`PretrainedCfg`, in the spirit of timm's.

Every model file records one (``preprocessing`` in its metadata, as JSON); ``googlenet.create_model(name,
pretrained=...)`` and :func:`googlenet.weights.load_model` give it back as ``model.pretrained_cfg``. Eval,
predict, export, explain, serve and fine-tuning read it, and :func:`create_transform` turns it into the
transform that gives, from a photo, exactly the tensor ``googlenet predict`` feeds the network:

1. decode (any mode to 8-bit grey or RGB, :mod:`googlenet.data.images`; the EXIF orientation applied),
2. resize so the shorter side is ``resize`` (antialiased, ``interpolation``) and cut the centre
   ``input_size`` square (the 1-crop protocol, :mod:`googlenet.evaluation.crops`),
3. pixels to [0, 1], then ``(pixels[channel_order] * scale - mean) / std``.

``channel_order`` and ``scale`` are BVLC Caffe's convention (BGR, 0-255, mean-subtracted: its GoogLeNet's
``transform_param``); torchvision and timm weights read RGB in [0, 1].
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from torch import Tensor
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..errors import DataError, UserError
from .registry import is_small_image_dataset

#: The usual single-crop test: the shorter side resized to crop / 0.875 (256 for 224), then the centre crop.
EVAL_CROP_FRACTION = 0.875
#: The largest input side a record may hold (a 38 GB input tensor otherwise, docs/robustness.md).
MAX_INPUT_SIDE = 4096
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
CHANNEL_ORDERS = ("RGB", "BGR")


@dataclass(frozen=True)
class PretrainedCfg:
    """What a model's weights expect of their input. ``None``: not recorded (files of older versions)."""

    input_size: int | None = None  # side of the square crop the network reads
    resize: int | None = None  # shorter side a test image is resized to before the centre crop
    channels: int | None = None  # 1 (grey) or 3
    mean: tuple[float, ...] | None = None  # per channel, in the units after ``scale``
    std: tuple[float, ...] | None = None
    interpolation: str = "bilinear"
    channel_order: str = "RGB"
    scale: float = 1.0  # pixels in [0, 1] are multiplied by this (255 for Caffe) before mean / std
    dataset: str | None = None  # what the weights were trained on ("imagenet", "fashion-mnist", a folder's name)
    source: str | None = None  # where they come from ("torchvision", "timm", "caffe", a training run)

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(float(v) for v in value))

    @property
    def crop_pct(self) -> float | None:
        """timm's ``crop_pct``: the crop's share of the resized image's shorter side."""
        return self.input_size / self.resize if self.input_size and self.resize else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "preprocessing") -> PretrainedCfg:
        """A record from a model file's ``preprocessing`` JSON object (keys of other versions are ignored);
        each field checked, a bad one a one-line DataError naming ``where``, the field and what it must hold."""
        if not isinstance(data, Mapping):
            raise DataError(f"{where} must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        for key in ("mean", "std"):
            v = values.get(key)
            if v is not None and (not isinstance(v, (list, tuple)) or not v or not all(
                    _number(x) and math.isfinite(x) for x in v)):
                raise DataError(f"{where} {key} must be a list of finite numbers, got {str(v)[:60]}")
        if any(x == 0 for x in values.get("std") or ()):
            raise DataError(f"{where} std holds a 0 (images are divided by it)")
        for key, low, high in (("input_size", 8, MAX_INPUT_SIDE), ("resize", 8, MAX_INPUT_SIDE), ("channels", 1, 4)):
            v = values.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high):
                raise DataError(f"{where} {key} must be a whole number in [{low}, {high}], got {str(v)[:40]}")
        if "scale" in values and not (_number(values["scale"]) and math.isfinite(values["scale"])
                                      and values["scale"] > 0):
            raise DataError(f"{where} scale must be a positive number, got {str(values['scale'])[:40]}")
        for key, allowed in (("interpolation", INTERPOLATIONS), ("channel_order", CHANNEL_ORDERS)):
            if key in values and values[key] not in allowed:
                raise DataError(f"{where} {key} must be one of {', '.join(allowed)}, got {str(values[key])[:40]}")
        for key in ("dataset", "source"):
            if key in values and not isinstance(values[key], str):
                values[key] = str(values[key])
        return cls(**values)

    @classmethod
    def coerce(cls, value: PretrainedCfg | Mapping[str, Any] | None) -> PretrainedCfg:
        """A record from a record, a ``preprocessing`` dict (checked) or None (nothing recorded)."""
        if value is None:
            return cls()
        return value if isinstance(value, PretrainedCfg) else cls.from_dict(value)

    def as_dict(self) -> dict[str, Any]:
        """The JSON object a model file records (unrecorded fields left out)."""
        data = {k: v for k, v in asdict(self).items() if v is not None}
        for key in ("mean", "std"):
            if key in data:
                data[key] = list(data[key])
        return data

    def completed(self, *, input_size: int, channels: int) -> PretrainedCfg:
        """This record with what it does not say filled in: the crop and channels given, mean 0 and std 1."""
        c = self.channels or channels
        mean = _per_channel(self.mean or (0.0,), c)
        std = _per_channel(self.std or (1.0,), c)
        return replace(self, input_size=self.input_size or input_size, channels=c, mean=mean, std=std)

    def test_resize(self, crop_size: int | None = None) -> int:
        """The shorter side a test image is resized to for one ``crop_size`` crop (default ``input_size``):
        the recorded ``resize`` at the trained size, the whole image for the built-in datasets of small
        images (the data registry's ``SMALL``: every image has the input size), else crop / 0.875 (256 for
        224, GoogLeNet section 7's first scale)."""
        crop = int(crop_size or self.input_size or 224)
        if crop == self.input_size:
            if self.resize:
                return int(self.resize)
            if self.dataset and is_small_image_dataset(self.dataset):
                return crop
        return max(crop, int(round(crop / EVAL_CROP_FRACTION)))

    def normalize(self, crops: Tensor, *, inplace: bool = False) -> Tensor:
        """Crops (N, C, H, W) in [0, 1] with any channel count -> the network's input: its channels, its
        channel order and scale, minus ``mean``, divided by ``std`` (in ``crops``' memory when ``inplace``)."""
        channels = self.channels or crops.shape[1]
        inplace = inplace and crops.shape[1] == channels  # an expanded grey batch cannot be written
        if crops.shape[1] != channels:
            if channels == 1 and crops.shape[1] == 3:
                crops = TF.rgb_to_grayscale(crops)
            elif channels == 3 and crops.shape[1] == 1:
                crops = crops.expand(-1, 3, -1, -1)
            else:
                raise UserError(f"the model reads {channels}-channel images, got {crops.shape[1]}; convert the "
                                f"images to {channels} channels")
        if self.channel_order == "BGR" and crops.shape[1] == 3:
            crops = crops.flip(1)
        if self.scale != 1.0:
            crops = crops * self.scale
        mean = _per_channel(self.mean or (0.0,), channels)
        std = _per_channel(self.std or (1.0,), channels)
        return TF.normalize(crops, list(mean), list(std), inplace=inplace)


def resize_short(images: Tensor, side: int, interpolation: str = "bilinear") -> Tensor:
    """Resize so the shorter side is ``side`` pixels, keeping the aspect ratio (antialiased): the test crops'
    first step (evaluation/crops.py) and :func:`create_transform`'s."""
    if min(images.shape[-2:]) == side:
        return images
    return TF.resize(images, [side], interpolation=InterpolationMode(interpolation), antialias=True)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _per_channel(values: tuple[float, ...], channels: int) -> tuple[float, ...]:
    return tuple(values) * channels if len(values) == 1 and channels > 1 else tuple(values)


# ---------------------------------------------------------------------------------------------- a model file
MODEL_FILE_FORMAT = "googlenet-model/"


def read_file_cfg(path: str | Path) -> PretrainedCfg:
    """The record a googlenet model file (or a run folder's ``model.safetensors``) holds, read from its
    safetensors header alone (no weights are read)."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise DataError(f"model file {str(path)!r} not found; pass a model.safetensors (or its run folder)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - any reader error is "not a model file"
        raise DataError(f"{str(path)!r} is not a readable safetensors model file ({exc}); pass a model.safetensors "
                        "written by googlenet") from None
    if not str(meta.get("format", "")).startswith(MODEL_FILE_FORMAT):
        raise DataError(f"{str(path)!r} has no googlenet metadata; pass a model file written by googlenet "
                        "(googlenet train, googlenet weights import)")
    try:
        raw = json.loads(meta.get("preprocessing") or "{}")
        kwargs = json.loads(meta.get("model_kwargs") or "{}")
    except ValueError:
        raise DataError(f"{str(path)!r} has damaged metadata: preprocessing is not JSON; write the file "
                        "again") from None
    cfg = PretrainedCfg.from_dict(raw, where=f"{str(path)!r} preprocessing")
    if cfg.input_size is None:
        raise DataError(f"{str(path)!r} records no input size; pass the model itself: "
                        f"create_transform(googlenet.weights.load_model({str(path)!r}).model)")
    return cfg if cfg.channels else replace(cfg, channels=int(kwargs.get("in_channels", 3)))


def cfg_of(source: Any) -> PretrainedCfg:
    """The record of ``source``: a record, a model with ``pretrained_cfg``, a loaded model file (its
    ``preprocessing``) or the path of a model file."""
    if isinstance(source, PretrainedCfg):
        return source
    if isinstance(source, (str, Path)):
        return read_file_cfg(source)
    for attr in ("pretrained_cfg", "preprocessing"):
        cfg = getattr(source, attr, None)
        if isinstance(cfg, PretrainedCfg):
            return cfg
    model = getattr(source, "model", None)
    if isinstance(getattr(model, "pretrained_cfg", None), PretrainedCfg):
        return model.pretrained_cfg
    raise UserError(f"{type(source).__name__} has no preprocessing record; pass a model of "
                    "googlenet.create_model(name, pretrained=...) or googlenet.weights.load_model, a model file, "
                    "or a googlenet.data.PretrainedCfg(input_size=..., mean=..., std=...)")
