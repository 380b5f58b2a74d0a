"""One registry for every dataset, as models/registry.py is for models: ``load_dataset(name, split)``,
``dataset_stats(name)``, ``dataset_names()``.

Each format declares its datasets with :func:`register_dataset`: the loader, the splits it has on disk,
whether it holds small images or photos (:data:`SMALL` / :data:`PHOTOS`; the recipe, the stem and the
evaluation resize follow from it), its statistics and class names. A user's folder or tarball is a
format like the others (``folder``), chosen when the name is a path. The formats are the modules of
:mod:`googlenet.data.formats`, imported on first use, so adding a format is one file there
(docs/CONTRIBUTING.md, "Adding a dataset format").
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..errors import UserError

# This module imports no other of googlenet.data, so that any of them can ask it (preprocessing asks
# which datasets are small fixed-size images): loaders and statistics are typed Any here, and are
# googlenet.data.datasets' ImageDataset and DatasetStats.

#: The splits a dataset can be asked for; a format's ``DatasetSpec.splits`` says which it has on disk.
SPLITS = ("train", "val", "test")
#: Kinds of data: fixed-size small images (28x28, 32x32: the small-image stem, no resize at evaluation)
#: or photos of any size (resized and centre-cropped).
SMALL, PHOTOS = "small images", "photos"


@dataclass(frozen=True)
class LoadRequest:
    """What :func:`load_dataset` was asked, as every loader receives it (``channels`` resolved by then: None
    asks for the dataset's own)."""

    name: str
    split: str = "train"
    data_dir: str | Path | None = None
    transform: Callable | None = None
    channels: int | None = None
    val_fraction: float = 0.1
    split_seed: int = 0
    skip_bad_images: bool = False
    download: bool = False

    @classmethod
    def parse(cls, name: str | Path, split: str, options: dict[str, Any]) -> LoadRequest:
        """The request for ``load_dataset(name, split, **options)``; an unknown option is a one-line
        UserError naming the ones there are."""
        names = [f.name for f in fields(cls) if f.name not in ("name", "split")]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise UserError(f"load_dataset has no option {unknown[0]!r}; its options: {', '.join(names)}")
        return cls(str(name), split, **options)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset (or, with ``claims``, a format of user paths) as the registry knows it.

    ``load(request, stats)`` returns the split ``request.split``; ``stats(request)`` the statistics and
    class names (for a built-in, a constant; for a user's folder, read from it). ``claims(name)`` says
    whether a name the user typed (a path) is this format's; ``folder`` claims any existing path last.
    """

    name: str
    load: Callable[[LoadRequest, Any], Any]  # (request, its DatasetStats) -> the split's ImageDataset
    stats: Callable[[LoadRequest], Any]  # -> DatasetStats
    kind: str
    splits: tuple[str, ...] = ("train", "test")
    aliases: tuple[str, ...] = ()
    claims: Callable[[str], bool] | None = None
    claim_order: int = 0  # formats that claim a path are asked in this order (then registration order)
    description: str = ""


_REGISTRY: dict[str, DatasetSpec] = {}
_ALIASES: dict[str, str] = {}
_DISCOVERED = False


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the registry (under its name and aliases); a format module calls it at import."""
    _discover()  # the built-ins first: a clash with one of them is caught here, not on first use
    if spec.kind not in (SMALL, PHOTOS):
        raise ValueError(f"dataset {spec.name!r}: kind must be SMALL or PHOTOS, got {spec.kind!r}")
    for key in (spec.name, *spec.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise RuntimeError(f"dataset name {key!r} registered twice")
    _REGISTRY[spec.name] = spec
    _ALIASES.update({a: spec.name for a in spec.aliases})
    return spec


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    package = importlib.import_module(f"{__package__}.formats")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")


def dataset_names() -> list[str]:
    """The registered names: the built-in datasets, then the formats of user paths (``folder``...)."""
    _discover()
    return sorted(_REGISTRY, key=lambda k: (_REGISTRY[k].claims is not None, _REGISTRY[k].kind != SMALL))


def small_image_datasets() -> tuple[str, ...]:
    """The built-in datasets of small images; every other dataset is photos unless its images say otherwise."""
    _discover()
    return tuple(k for k in dataset_names() if _REGISTRY[k].kind == SMALL and _REGISTRY[k].claims is None)


def dataset_spec(name: str | Path) -> DatasetSpec:
    """The spec that reads ``name``: a registered name or alias, else the format that claims the path."""
    _discover()
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in _REGISTRY:
        return _REGISTRY[key]
    for spec in sorted((s for s in _REGISTRY.values() if s.claims is not None), key=lambda s: s.claim_order):
        if spec.claims(str(name)):
            return spec
    raise UserError(f"unknown dataset {str(name)!r}; use one of {', '.join(dataset_names())} "
                    "(folder: an ImageFolder tree given with --data-dir) or the path of an image folder")


def canonical_name(name: str | Path) -> str:
    """The registered name that reads ``name`` (``folder`` for a user's path)."""
    return dataset_spec(name).name


def is_small_image_dataset(name: Any) -> bool:
    """Whether ``name`` (e.g. a model file's recorded dataset) is a built-in dataset of small images; False
    for anything the registry does not know, without raising."""
    try:
        spec = dataset_spec(str(name))
    except UserError:
        return False
    return spec.kind == SMALL and spec.claims is None


def dataset_stats(name: str | Path, *, data_dir: str | Path | None = None) -> Any:
    """Channels, native image size, mean/std and class names of dataset ``name`` (a
    :class:`~googlenet.data.datasets.DatasetStats`).

    For ``folder`` datasets (a folder or a tarball of one) the classes are read from it -- ImageNet wnids
    shown by name -- and the normalization is ImageNet's (the usual choice for photos; pass your own
    mean/std to the transforms when your images differ).
    """
    return dataset_spec(name).stats(LoadRequest(str(name), data_dir=data_dir))


def load_dataset(name: str | Path, split: str = "train", **options: Any) -> Any:
    """Dataset ``name``'s ``split`` ("train", "val" or "test") as an :class:`~googlenet.data.ImageDataset`.

    Args:
        name: "fashion-mnist", "mnist", "cifar10", "imagenette", "folder" (with ``data_dir``), or the path of
            a folder or of a tarball (.tar.gz, .tgz, .tar) of ``train/<class>/*`` (and ``val/``, ``test/``);
            :func:`dataset_names` lists them all.
        **options: the fields of :class:`LoadRequest`, by name:

        data_dir: where the files are; else ``$GOOGLENET_DATA``; Fashion-MNIST also looks in Debian's
            /usr/share/datasets/fashion-mnist.
        transform: called on each image (a uint8 ``tv_tensors.Image``), e.g. from
            :func:`googlenet.data.train_transform`. None returns the uint8 image.
        channels: 1 (grey) or 3 (RGB); default the dataset's own.
        val_fraction, split_seed: when the data has no val split, "val" is this fixed-seed random
            fraction of train and "train" the rest. ``val_fraction=0`` trains on all of train.
        skip_bad_images: leave out (and list in ``.skipped``) images that fail to decode, instead of
            raising a DataError naming the file. Decodes every image once up front.
        download: fetch Fashion-MNIST / MNIST with torchvision when no local copy is found (needs internet).
    """
    request = LoadRequest.parse(name, split, options)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    spec = dataset_spec(name)
    stats = spec.stats(request)
    channels = request.channels or stats.channels
    if channels not in (1, 3):
        raise UserError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    return spec.load(replace(request, channels=channels), stats)


__all__ = ["PHOTOS", "SMALL", "SPLITS", "DatasetSpec", "LoadRequest", "canonical_name", "dataset_names", "dataset_spec",
           "dataset_stats", "is_small_image_dataset", "load_dataset", "register_dataset", "small_image_datasets"]
