"""The released weights the registry knows, and ``create_model(name, pretrained=...)`` that loads them.

``pretrained`` takes ``True`` (the model's default weights), a tag of this registry (``"torchvision"``,
``"bvlc"``) or a ``"model.tag"`` name as :func:`list_pretrained` prints it, or the path of a local file: a
googlenet model file, or any weights file ``googlenet weights import`` reads (torchvision, timm, BVLC Caffe).

Each entry says where its file comes from (URL, hash, source, licence), what it expects of its input (a
:class:`~googlenet.data.preprocessing.PretrainedCfg`), its classes and the accuracy its publisher reports.
torchvision's entries are its ``DEFAULT`` weights (``torchvision.models.get_model_weights(name).DEFAULT``:
URL, ``transforms()`` crop and resize, ``meta["_metrics"]``), copied here so that listing needs no torchvision
import; ``tests/test_pretrained.py`` checks them against torchvision's enums. Their hash is the one torchvision
publishes, the start of the file's SHA-256 in its name, which torch.hub checks. BVLC's GoogLeNet is checked
against the SHA-1 its model card (models/bvlc_googlenet/readme.md) lists.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..data.imagenet import caffe_preprocessing, imagenet_class_names, rgb_preprocessing
from ..data.preprocessing import PretrainedCfg
from ..errors import DataError, UserError

_TV_LICENCE = ("BSD-3-Clause (torchvision); torchvision's README: pre-trained weights may carry terms of the "
               "data they were trained on (ImageNet)")
_TV_SOURCE = "torchvision {enum} (torchvision.models, {recipe})"


@dataclass(frozen=True)
class PretrainedEntry:
    """One released weights file for one registry model."""

    model: str  # the registry model it loads into
    tag: str  # "torchvision", "bvlc": pretrained="torchvision" or "model.tag"
    url: str
    digest: str  # the published hash: the start of the SHA-256 (torchvision) or a whole SHA-1 (BVLC)
    kind: str  # how `googlenet weights import` reads it: torchvision, timm, caffe
    source: str
    licence: str
    cfg: PretrainedCfg
    top1: float | None = None  # published accuracy, percent (ImageNet-1k val, 1 centre crop)
    top5: float | None = None
    accuracy_source: str = ""
    algorithm: str = "sha256"  # of ``digest``
    default: bool = True  # pretrained=True for ``model`` loads this one

    @property
    def name(self) -> str:
        return f"{self.model}.{self.tag}"

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def class_names(self) -> list[str]:
        return imagenet_class_names()  # every entry is an ImageNet-1k classifier

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "tag": self.tag, "url": self.url, self.algorithm: self.digest,
                "kind": self.kind, "source": self.source, "licence": self.licence, "top1": self.top1,
                "top5": self.top5, "accuracy_source": self.accuracy_source, "default": self.default,
                "preprocessing": self.cfg.as_dict(), "classes": 1000}


def _tv(model: str, enum: str, file: str, top1: float, top5: float, crop: int = 224, resize: int = 256,
        recipe: str = "references/classification") -> PretrainedEntry:
    digest = file.rsplit("-", 1)[1].split(".")[0]
    return PretrainedEntry(model, "torchvision", f"https://download.pytorch.org/models/{file}", digest, "torchvision",
                           _TV_SOURCE.format(enum=enum, recipe=recipe), _TV_LICENCE,
                           rgb_preprocessing(crop, resize, source="torchvision"), top1, top5,
                           f"torchvision {enum} meta: ImageNet-1K acc@1 / acc@5")


BVLC_GOOGLENET = PretrainedEntry(
    "googlenet", "bvlc", "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel",
    "405fc5acd08a3bb12de8ee5e23a96bec22f08204", "caffe",
    "BVLC Caffe model zoo, models/bvlc_googlenet (Sergio Guadarrama's replication of the paper)",
    "unrestricted use (BVLC model card)", caffe_preprocessing(), 68.7, 88.9,
    "BVLC model card: ILSVRC 2012 val, centre crop", algorithm="sha1")

#: Every entry, in the registry's order. The torchvision figures are its enums' ``meta["_metrics"]``.
ENTRIES: tuple[PretrainedEntry, ...] = (
    _tv("alexnet_torchvision", "AlexNet_Weights.IMAGENET1K_V1", "alexnet-owt-7be5be79.pth", 56.522, 79.066),
    BVLC_GOOGLENET,
    _tv("googlenet_torchvision", "GoogLeNet_Weights.IMAGENET1K_V1", "googlenet-1378be20.pth", 69.778, 89.530),
    _tv("inception_v3", "Inception_V3_Weights.IMAGENET1K_V1", "inception_v3_google-0cc3c7bd.pth", 77.294, 93.450,
        crop=299, resize=342),
    _tv("resnet18", "ResNet18_Weights.IMAGENET1K_V1", "resnet18-f37072fd.pth", 69.758, 89.078),
    _tv("resnet34", "ResNet34_Weights.IMAGENET1K_V1", "resnet34-b627a593.pth", 73.314, 91.420),
    _tv("resnet50", "ResNet50_Weights.IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 80.858, 95.434, resize=232),
    _tv("resnet101", "ResNet101_Weights.IMAGENET1K_V2", "resnet101-cd907fc2.pth", 81.886, 95.780, resize=232),
    _tv("resnet152", "ResNet152_Weights.IMAGENET1K_V2", "resnet152-f82ba261.pth", 82.284, 96.002, resize=232),
    _tv("squeezenet1_0", "SqueezeNet1_0_Weights.IMAGENET1K_V1", "squeezenet1_0-b66bff10.pth", 58.092, 80.420),
    _tv("squeezenet1_1", "SqueezeNet1_1_Weights.IMAGENET1K_V1", "squeezenet1_1-b8a52dc0.pth", 58.178, 80.624),
    _tv("vgg11", "VGG11_Weights.IMAGENET1K_V1", "vgg11-8a719046.pth", 69.020, 88.628),
    _tv("vgg11_bn", "VGG11_BN_Weights.IMAGENET1K_V1", "vgg11_bn-6002323d.pth", 70.370, 89.810),
    _tv("vgg13", "VGG13_Weights.IMAGENET1K_V1", "vgg13-19584684.pth", 69.928, 89.246),
    _tv("vgg13_bn", "VGG13_BN_Weights.IMAGENET1K_V1", "vgg13_bn-abd245e5.pth", 71.586, 90.374),
    _tv("vgg16", "VGG16_Weights.IMAGENET1K_V1", "vgg16-397923af.pth", 71.592, 90.382),
    _tv("vgg16_bn", "VGG16_BN_Weights.IMAGENET1K_V1", "vgg16_bn-6c64b313.pth", 73.360, 91.516),
    _tv("vgg19", "VGG19_Weights.IMAGENET1K_V1", "vgg19-dcbb9e9d.pth", 72.376, 90.876),
    _tv("vgg19_bn", "VGG19_BN_Weights.IMAGENET1K_V1", "vgg19_bn-c79401a0.pth", 74.218, 91.842),
)


def list_pretrained(pattern: str | None = None) -> list[str]:
    """``model.tag`` names of the registry's released weights, as timm's ``list_pretrained``; ``pattern``: a
    shell wildcard on those names or on the model's (``"resnet*"``, ``"*.bvlc"``)."""
    return [e.name for e in ENTRIES if pattern is None or fnmatch.fnmatchcase(e.name, pattern)
            or fnmatch.fnmatchcase(e.model, pattern)]


def pretrained_entry(model: str, tag: str | bool = True) -> PretrainedEntry:
    """The entry of ``model`` with ``tag`` (``True``: its default, a ``"model.tag"`` name also works)."""
    if isinstance(tag, str) and "." in tag:
        model, tag = tag.split(".", 1)
    own = [e for e in ENTRIES if e.model == model]
    found = [e for e in own if (e.default if tag is True else e.tag == tag)]
    if found:
        return found[0]
    if not own:
        from ..models.registry import model_info

        model_info(model)  # an unknown name: its own message, with suggestions
        with_weights = sorted({e.model for e in ENTRIES})
        raise UserError(f"no released weights for {model!r} in googlenet's registry; models with weights: "
                        f"{', '.join(with_weights)} (googlenet.list_pretrained()), or pass pretrained=FILE")
    raise UserError(f"{model!r} has no weights tagged {tag!r}; its tags: {', '.join(e.tag for e in own)}")


def downloads() -> dict[str, PretrainedEntry]:
    """Every NAME ``googlenet weights download`` takes: each model's default weights, and ``model.tag``
    names (``googlenet`` and ``bvlc_googlenet`` are BVLC's paper-exact GoogLeNet)."""
    table = {e.model: e for e in ENTRIES if e.default}
    table.update({e.name: e for e in ENTRIES})
    table["bvlc_googlenet"] = pretrained_entry("googlenet", "bvlc")
    return table


def fetch(name: str, *, folder: str | Path | None = None) -> tuple[PretrainedEntry, Path]:
    """The entry ``name`` (a registry model or ``model.tag``) and its file, downloaded if not there yet."""
    table = downloads()
    if name not in table:
        raise UserError(f"no released weights for {name!r}; choose one of {', '.join(sorted(table))}")
    from .download import fetch_entry

    entry = table[name]
    return entry, fetch_entry(entry, folder=folder)


def _is_tag(model: str, value: str) -> bool:
    return any(e.model == model and e.tag == value for e in ENTRIES) or value in {e.name for e in ENTRIES}


def create_model(name: str, pretrained: bool | str | Path = False, **kwargs: Any) -> nn.Module:
    """Build registry model ``name``, as timm's and torchvision's builders: with fresh weights, or with
    ``pretrained`` ones.

    ``pretrained``: ``False`` (fresh weights); ``True`` (the model's default released weights, downloaded
    once through torch.hub's cache, ``$TORCH_HOME/hub/checkpoints``, and hash-checked); a tag
    (``"torchvision"``, ``"bvlc"``) or ``"model.tag"`` (:func:`list_pretrained`); or a local file (a googlenet
    model file, or a torchvision / timm / BVLC Caffe weights file). ``kwargs``: builder arguments; with
    weights, ``num_classes`` other than the file's gives fresh classifiers on the pretrained trunk.

    The model carries ``model.pretrained_cfg`` (what its input must be: see
    :func:`googlenet.data.create_transform`) and ``model.class_names``.
    """
    from ..models.registry import create_model as build

    if pretrained is False or pretrained is None:
        return build(name, **kwargs)
    num_classes = kwargs.pop("num_classes", None)
    if isinstance(pretrained, bool) or (isinstance(pretrained, str) and _is_tag(name, pretrained)):
        entry = pretrained_entry(name, pretrained)
        model = _from_entry(entry, kwargs)
    elif isinstance(pretrained, (str, Path)):
        model = _from_file(name, Path(pretrained), kwargs)
    else:
        raise UserError(f"pretrained must be True, a weights tag or a file path, got {type(pretrained).__name__}; "
                        "e.g. create_model('resnet18', pretrained=True)")
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)  # fine-tuning: a new head on the pretrained trunk
        model.class_names = None
    return model


def _from_entry(entry: PretrainedEntry, kwargs: dict[str, Any]) -> nn.Module:
    from .download import fetch_entry
    from .importer import import_weights

    path = fetch_entry(entry)
    imported = import_weights(entry.kind, path, model=entry.model, model_kwargs=kwargs or None)
    model = imported.model
    model.pretrained_cfg = entry.cfg  # the publisher's preprocessing (resize 232 for ResNet-50 V2 ...)
    return model


def _from_file(name: str, path: Path, kwargs: dict[str, Any]) -> nn.Module:
    from ._state import sniff
    from .checkpoint import load_model
    from .importer import import_weights

    if not path.is_file():
        tags = sorted({e.tag for e in ENTRIES if e.model == name})
        hint = f"a tag of {name} ({', '.join(tags)}), " if tags else ""
        raise UserError(f"pretrained={str(path)!r} is neither a file nor a weights tag; pass True, {hint}or the "
                        "path of a weights file")
    if sniff(path) == "safetensors" and _is_model_file(path):
        loaded = load_model(path, **kwargs)
        if loaded.model_name != name:
            raise DataError(f"{str(path)!r} holds a {loaded.model_name}, not a {name}; pass "
                            f"create_model({loaded.model_name!r}, pretrained=...)")
        return loaded.model
    return import_weights("auto", path, model=name, model_kwargs=kwargs or None).model


def _is_model_file(path: Path) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return str((f.metadata() or {}).get("format", "")).startswith("googlenet-model/")
    except Exception:  # noqa: BLE001 - not readable as our file: the importer says what it is
        return False
