"""The 1000 ImageNet-1k (ILSVRC 2012) classes, shipped with the package.

``imagenet_classes.tsv`` lies next to this module (one line per class, in the index order every
ImageNet model uses: sorted WordNet ids): ``wnid<TAB>short name<TAB>WordNet lemmas``. The short names
are torchvision's (unique, so a prediction is unambiguous: "crane bird" vs "crane"), the wnids and
lemmas timm's; the file was generated once from the installed packages and is read with
:mod:`importlib.resources`, so it is found in an installed wheel as well as in a checkout.

Also the preprocessing that goes with each source of ImageNet weights, as recorded in a model file
(a :class:`~googlenet.data.preprocessing.PretrainedCfg`): the input is ``(pixels[channel_order] * scale - mean)
/ std`` for pixels in [0, 1].
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from ..errors import DataError
from .preprocessing import PretrainedCfg

DATA_FILE = "imagenet_classes.tsv"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@cache
def _rows() -> tuple[tuple[str, str, str], ...]:
    try:
        text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise DataError(f"the ImageNet class list {DATA_FILE} is missing from the installed package ({exc}); "
                        "reinstall googlenet") from None
    rows = tuple(tuple(line.split("\t")) for line in text.splitlines() if line and not line.startswith("#"))
    if len(rows) != 1000 or any(len(r) != 3 for r in rows):
        raise DataError(f"{DATA_FILE} in the installed package is damaged ({len(rows)} classes); reinstall googlenet")
    return rows  # type: ignore[return-value]


def imagenet_class_names() -> list[str]:
    """The 1000 short class names in index order (``[0] == "tench"``)."""
    return [r[1] for r in _rows()]


def imagenet_wnids() -> list[str]:
    """The 1000 WordNet ids in index order (``[0] == "n01440764"``); also Imagenette's folder names."""
    return [r[0] for r in _rows()]


def imagenet_lemmas() -> list[str]:
    """The WordNet lemmas of each class (``[0] == "tench, Tinca tinca"``)."""
    return [r[2] for r in _rows()]


@cache
def _wnid_names() -> dict[str, str]:
    return dict(zip(imagenet_wnids(), imagenet_class_names(), strict=True))


def wnid_names() -> dict[str, str]:
    """WordNet id -> short class name, for the 1000 classes (``["n01440764"] == "tench"``)."""
    return dict(_wnid_names())


def class_names_for(num_classes: int) -> list[str] | None:
    """ImageNet's names for a 1000-class model, else None (the classifier was replaced)."""
    return imagenet_class_names() if num_classes == 1000 else None


def rgb_preprocessing(input_size: int, resize: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, source: str = "",
                      interpolation: str = "bilinear") -> PretrainedCfg:
    """The record of an RGB ImageNet model normalized in [0, 1] (torchvision, timm)."""
    return PretrainedCfg(input_size=input_size, resize=resize, channels=3, mean=tuple(mean), std=tuple(std),
                         interpolation=interpolation, channel_order="RGB", scale=1.0, dataset="imagenet",
                         source=source)


def caffe_preprocessing() -> PretrainedCfg:
    """BVLC Caffe's GoogLeNet input: BGR, 0-255, minus the per-channel means 104/117/123 (B, G, R), no std.

    From BVLC's train_val.prototxt ``transform_param { mirror crop_size: 224 mean_value: 104 117 123 }``;
    images were resized to 256x256 before the 224 crop.
    """
    return PretrainedCfg(input_size=224, resize=256, channels=3, mean=(104.0, 117.0, 123.0), std=(1.0, 1.0, 1.0),
                         channel_order="BGR", scale=255.0, dataset="imagenet", source="caffe")
