"""Datasets: Fashion-MNIST / MNIST (IDX files), CIFAR-10 and Imagenette (class-folder tarballs read in place),
any ImageFolder tree or a tarball of one.

Every dataset is a :class:`ImageDataset`: ``dataset[i]`` is ``(image, label)`` where ``image`` is a
uint8 tensor (C x H x W, in the requested channel count), or what ``transform`` makes of it (the
transform receives it as a ``torchvision.tv_tensors.Image``). ``.classes`` holds the class names,
``.targets`` the labels and ``.skipped`` the ``(file, reason)`` pairs of images left out with ``skip_bad_images=True``.
"""

from __future__ import annotations

import copy
import functools
import gzip
import os
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from ..errors import DataError, UserError
from .archives import (
    IMAGENETTE_CLASSES,
    Member,
    archive_bytes,
    archive_layout,
    display_names,
    find_archive,
    read_member,
    tar_error,
)
from .images import decode_image, is_image_name
from .preprocessing import PretrainedCfg
from .transforms import EVAL_CROP_FRACTION

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SPLITS = ("train", "val", "test")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DatasetStats:
    """What a model needs to know about a dataset: channels, native size, normalization, classes."""

    name: str
    channels: int
    image_size: int | None  # native side length; None when images vary (folders)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    num_train: int | None = None
    num_test: int | None = None
    files: dict[str, str] = field(default_factory=dict)  # split -> file name pattern
    hflip: bool = True  # whether a mirror image keeps its class (not for digits)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def preprocessing(self, input_size: int | None = None, channels: int | None = None) -> PretrainedCfg:
        """The preprocessing record of a model file trained on this dataset."""
        c = channels or self.channels
        mean, std = _match_channels(self.mean, c), _match_channels(self.std, c)
        size = int(input_size or self.image_size or 224)
        # "resize": the shorter side the evaluation transform resizes a test image to before its centre crop
        # (eval_steps): the whole image for fixed-size datasets, 256 for a 224 crop otherwise. Test-time
        # crops (googlenet eval) start from this scale, so they see what the trainer's test figures saw.
        resize = size if self.image_size else int(round(size / EVAL_CROP_FRACTION))
        return PretrainedCfg(input_size=size, resize=resize, channels=c, mean=mean, std=std, dataset=self.name)


def _match_channels(values: Sequence[float], channels: int) -> tuple[float, ...]:
    if len(values) == channels:
        return tuple(values)
    if channels == 1:  # RGB statistics -> grey (ITU-R 601-2 luma, as PIL converts)
        return (0.299 * values[0] + 0.587 * values[1] + 0.114 * values[2],)
    return tuple(values) * channels if len(values) == 1 else tuple(values)


IMAGENETTE_WNIDS = tuple(sorted(IMAGENETTE_CLASSES))
#: Where ``imagenette`` is looked for inside each data root, in order.
IMAGENETTE_FILES = ("imagenette-224.tar.gz", "imagenette2.tgz", "imagenette2-320.tgz", "imagenette2-160.tgz",
                    "imagenette", "imagenette2", "imagenette-224")

# Means and standard deviations of the train split's pixels in [0, 1], measured with
# googlenet.data.compute_mean_std on these exact files (the CIFAR-10 figures are those of the JPEG
# re-encoding in shared/data, which differ slightly from the original binary batches').
_BUILTIN: dict[str, DatasetStats] = {
    "fashion-mnist": DatasetStats(
        "fashion-mnist", 1, 28, (0.2860,), (0.3530,),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        60_000, 10_000,
        {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"},
    ),
    "mnist": DatasetStats(
        "mnist", 1, 28, (0.1307,), (0.3081,), tuple(str(d) for d in range(10)), 60_000, 10_000,
        {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}, hflip=False,
    ),
    "cifar10": DatasetStats(
        "cifar10", 3, 32, (0.4913, 0.4821, 0.4465), (0.2452, 0.2428, 0.2606),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        50_000, 10_000, {"train": "cifar10-jpeg.tar.gz", "test": "cifar10-jpeg.tar.gz"},
    ),
    # Photos of varying size (image_size None: evaluation resizes and centre-crops). ImageNet's mean/std:
    # Imagenette is ten ImageNet classes, and those statistics are the usual ones for natural photos.
    "imagenette": DatasetStats(
        "imagenette", 3, None, IMAGENET_MEAN, IMAGENET_STD, tuple(display_names(IMAGENETTE_WNIDS)),
        9_469, 3_925, {"train": "imagenette-224.tar.gz", "val": "imagenette-224.tar.gz"},
    ),
}
_ALIASES = {"imagenette2": "imagenette", "imagenette-224": "imagenette",
            "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
            "cifar_10": "cifar10", "imagefolder": "folder"}


def dataset_names() -> list[str]:
    """The built-in dataset names, plus ``folder`` (any ImageFolder tree)."""
    return [*_BUILTIN, "folder"]


def canonical_name(name: str) -> str:
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key in _BUILTIN or key == "folder":
        return key
    if Path(name).exists():
        return "folder"
    raise UserError(f"unknown dataset {name!r}; use one of {', '.join(dataset_names())} "
                    "(folder: an ImageFolder tree given with --data-dir) or the path of an image folder")


def dataset_stats(name: str, *, data_dir: str | Path | None = None) -> DatasetStats:
    """Channels, native image size, mean/std and class names of dataset ``name``.

    For ``folder`` datasets (a folder or a tarball of one) the classes are read from it -- ImageNet wnids
    shown by name -- and the normalization is ImageNet's (the usual choice for photos; pass your own
    mean/std to the transforms when your images differ).
    """
    key = canonical_name(name)
    if key != "folder":
        return _BUILTIN[key]
    root = _folder_root(name, data_dir)
    if root.is_file():
        layout = archive_layout(root)
        folders = list(layout.get("train") or next(iter(layout.values())))
    else:
        folders = _find_classes(_split_dir(root, "train") or root)
    return DatasetStats(str(root), 3, None, IMAGENET_MEAN, IMAGENET_STD, tuple(display_names(folders)))


class ImageDataset(Dataset):
    """Base class: ``(image, label)`` pairs, a subset of the underlying split given by ``indices``."""

    def __init__(self, *, name: str, split: str, classes: Sequence[str], targets: Sequence[int] | torch.Tensor,
                 channels: int, transform: Callable | None = None, indices: Sequence[int] | None = None) -> None:
        self.name = name
        self.split = split
        self.classes = list(classes)
        self.channels = channels
        self.transform = transform
        self._targets = torch.as_tensor(targets, dtype=torch.long)
        self.indices = torch.arange(len(self._targets)) if indices is None else torch.as_tensor(indices)
        self.source_split = split  # the split on disk; subset() views (held-out val) keep it
        self.skipped: list[tuple[str, str]] = []

    @property
    def targets(self) -> torch.Tensor:
        return self._targets[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        j = int(self.indices[i])
        image = self._image(j)
        if self.transform is not None:
            return self.transform(image), int(self._targets[j])
        return image.as_subclass(torch.Tensor), int(self._targets[j])

    def _image(self, j: int) -> tv_tensors.Image:  # pragma: no cover - abstract
        raise NotImplementedError

    def subset(self, indices: Sequence[int] | torch.Tensor, split: str | None = None) -> ImageDataset:
        """A view of this dataset holding only positions ``indices`` (of this view)."""
        new = copy.copy(self)
        new.indices = self.indices[torch.as_tensor(indices, dtype=torch.long)]
        new.split = split or self.split
        return new

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, split={self.split!r}, {len(self)} images, " \
               f"{len(self.classes)} classes)"


class TensorImageDataset(ImageDataset):
    """Images held in memory as one uint8 tensor (N, C, H, W): MNIST-style data, decoded once."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, *, channels: int | None = None, **kw: Any):
        self.images = images
        native = images.shape[1]
        super().__init__(targets=targets, channels=channels or native, **kw)

    def _image(self, j: int) -> tv_tensors.Image:
        img = self.images[j]
        if img.shape[0] != self.channels:
            img = img.expand(self.channels, -1, -1) if img.shape[0] == 1 else TF.rgb_to_grayscale(img)
        return tv_tensors.Image(img)


class EncodedImageDataset(ImageDataset):
    """Images decoded on access from files on disk or from encoded bytes (tarball members)."""

    def __init__(self, sources: Sequence[str | Path | bytes], names: Sequence[str], targets: Sequence[int], *,
                 channels: int, skip_bad_images: bool = False, **kw: Any) -> None:
        sources, names, targets = list(sources), list(names), list(targets)
        skipped: list[tuple[str, str]] = []
        if skip_bad_images:  # decode everything once; keep what decodes (cost: one pass over the files)
            keep = []
            for k, (src, nm) in enumerate(zip(sources, names, strict=True)):
                try:
                    decode_image(src, channels, name=nm)
                    keep.append(k)
                except DataError as exc:
                    skipped.append((nm, str(exc)))
            sources = [sources[k] for k in keep]
            names = [names[k] for k in keep]
            targets = [targets[k] for k in keep]
        self.sources, self.names = sources, names
        super().__init__(targets=targets, channels=channels, **kw)
        self.skipped = skipped
        if not self.sources:
            raise DataError(f"no readable images in {kw.get('name')!r} split {kw.get('split')!r}"
                            f"{f' ({len(skipped)} skipped as unreadable)' if skipped else ''}; check the folder")

    def _image(self, j: int) -> tv_tensors.Image:
        img = decode_image(self.sources[j], self.channels, name=self.names[j])
        return tv_tensors.Image(TF.pil_to_tensor(img))


class ArchiveImageDataset(ImageDataset):
    """Images in a tarball, decoded on access; the bytes are read (once, all of them) only when needed.

    ``members`` (name, size, mtime of each image) is what :mod:`googlenet.data.cache` keys its decoded
    copy on, so a run whose cache is valid never reads the tarball at all.
    """

    def __init__(self, archive: Path, members: Sequence[Member], targets: Sequence[int], *, channels: int,
                 skip_bad_images: bool = False, **kw: Any) -> None:
        self.archive = Path(archive)
        members, targets = list(members), list(targets)
        skipped: list[tuple[str, str]] = []
        if skip_bad_images:  # as EncodedImageDataset: one decoding pass, keep what decodes
            data = archive_bytes(self.archive)
            keep = []
            for k, m in enumerate(members):
                try:
                    decode_image(data[m.name], channels, name=f"{self.archive.name}:{m.name}")
                    keep.append(k)
                except DataError as exc:
                    skipped.append((f"{self.archive.name}:{m.name}", str(exc)))
            members, targets = [members[k] for k in keep], [targets[k] for k in keep]
        self.members = members
        self.names = [f"{self.archive.name}:{m.name}" for m in members]
        super().__init__(targets=targets, channels=channels, **kw)
        self.skipped = skipped
        if not self.members:
            raise DataError(f"no readable images in {str(self.archive)!r} split {kw.get('split')!r}; "
                            "check the tarball")

    @property
    def sources(self) -> list[bytes]:
        data = archive_bytes(self.archive)
        return [data[m.name] for m in self.members]

    def source(self, j: int) -> bytes:
        return archive_bytes(self.archive)[self.members[j].name]

    def _image(self, j: int) -> tv_tensors.Image:
        img = decode_image(self.source(j), self.channels, name=self.names[j])
        return tv_tensors.Image(TF.pil_to_tensor(img))


# ----------------------------------------------------------------------------------------------------
# Where the files are


def data_roots(data_dir: str | Path | None) -> list[Path]:
    """Folders searched for dataset files, in order: ``data_dir``, then ``$GOOGLENET_DATA``."""
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get("GOOGLENET_DATA")
    if env:
        roots.append(Path(env).expanduser())
    return roots


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "googlenet"


def _find_idx(key: str, data_dir: str | Path | None, download: bool) -> Path:
    want = "train-images-idx3-ubyte"
    candidates: list[Path] = []
    for root in data_roots(data_dir):
        candidates += [root, root / key, root / key.replace("-", "_"), root / key / "raw"]
    if key == "fashion-mnist":
        candidates.append(DEBIAN_FASHION_MNIST)
    cache = default_cache_dir() / key
    candidates.append(cache)
    for folder in candidates:
        if (folder / f"{want}.gz").is_file() or (folder / want).is_file():
            return folder
    if download:
        return _download_idx(key, cache)
    looked = ", ".join(dict.fromkeys(str(c) for c in candidates))
    hint = "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), " \
        if key == "fashion-mnist" else ""
    raise DataError(f"{key} not found (no {want}.gz in {looked}); {hint}pass --data-dir DIR holding the four "
                    "IDX files, set GOOGLENET_DATA=DIR, or pass --download")


def _download_idx(key: str, cache: Path) -> Path:  # pragma: no cover - needs the internet
    from torchvision import datasets

    cls = datasets.FashionMNIST if key == "fashion-mnist" else datasets.MNIST
    try:
        cls(str(cache / "tv"), train=True, download=True)
        cls(str(cache / "tv"), train=False, download=True)
    except Exception as exc:
        raise DataError(f"downloading {key} failed ({exc}); put the IDX files in a folder, pass --data-dir"
                        ) from None
    return cache / "tv" / cls.__name__ / "raw"


def _read_idx(path: Path, kind: str) -> np.ndarray:
    """An IDX file (LeCun et al.'s MNIST format), gzipped or not, as a numpy array."""
    gz = path.with_name(path.name + ".gz")
    real = gz if gz.is_file() else path
    if not real.is_file():
        raise DataError(f"{kind} file {str(gz)!r} not found; the folder needs train- and t10k- image and label "
                        "files (.gz or not)")
    try:
        raw = gzip.open(real).read() if real.suffix == ".gz" else real.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {str(real)!r} ({exc}); the file is damaged, replace it") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{str(real)!r} is not an unsigned-byte IDX file; replace it with the dataset's original")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - offset != count:
        raise DataError(f"{str(real)!r} is truncated or damaged ({len(raw) - offset} bytes of data, header says "
                        f"{count}); replace the file")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


@functools.lru_cache(maxsize=8)
def _load_idx_split(folder: Path, prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte", "image")
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte", "label")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"IDX files in {str(folder)!r} disagree: {images.shape} images, {labels.shape} labels; "
                        "replace them with the dataset's originals")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _find_cifar(data_dir: str | Path | None) -> Path:
    candidates: list[Path] = []
    for root in data_roots(data_dir):
        candidates += [root, root / "cifar10-jpeg.tar.gz", root / "cifar10", root / "cifar10-jpeg"]
    for c in candidates:
        if c.is_file() and tarfile.is_tarfile(c):
            return c
        if c.is_dir() and (c / "train").is_dir():
            return c
    looked = ", ".join(str(c) for c in candidates) or "nowhere: no --data-dir and no GOOGLENET_DATA"
    raise DataError(f"cifar10 not found (looked in {looked}); pass --data-dir DIR holding cifar10-jpeg.tar.gz "
                    "(train/<class>/*.jpg, test/<class>/*.jpg) or set GOOGLENET_DATA=DIR")


@functools.lru_cache(maxsize=4)
def _read_tar(path: Path, mtime: float) -> dict[str, list[tuple[str, str, bytes]]]:
    """All image members of a tarball, grouped by split: {split: [(member name, class, bytes)]}.

    Reads the (gzipped) stream once, front to back, into memory: CIFAR-10's JPEGs are 19 MB in all.
    Nothing is unpacked to disk.
    """
    out: dict[str, list[tuple[str, str, bytes]]] = {}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                if not member.isfile() or not is_image_name(member.name):
                    continue
                parts = Path(member.name).parts
                parts = parts[1:] if parts and parts[0] == "." else parts
                if len(parts) < 3:
                    continue
                split, cls = parts[-3], parts[-2]
                data = read_member(tar, member, f"{path.name}:{member.name}")  # size checked before reading
                out.setdefault(split, []).append((member.name, cls, data))
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise tar_error(path, exc) from None
    return out


def _find_imagenette(data_dir: str | Path | None) -> Path:
    candidates = [c for root in data_roots(data_dir) for c in (root, *(root / f for f in IMAGENETTE_FILES))]
    found = find_archive(candidates)
    if found is not None:
        return found
    looked = ", ".join(str(r) for r in data_roots(data_dir)) or "nowhere: no --data-dir and no GOOGLENET_DATA"
    raise DataError(f"imagenette not found (no {IMAGENETTE_FILES[0]} or imagenette/ folder in {looked}); pass "
                    "--data-dir DIR holding imagenette-224.tar.gz (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG) or set "
                    "GOOGLENET_DATA=DIR")


def _folder_root(name: str, data_dir: str | Path | None) -> Path:
    if canonical_name(name) == "folder" and str(name).lower() not in ("folder", "imagefolder"):
        root = Path(name)
    elif data_dir is not None:
        root = Path(data_dir)
    else:
        raise UserError("dataset 'folder' needs the folder: pass --data-dir DIR (DIR/train/<class>/*.jpg, "
                        "optionally DIR/val/<class>/..., DIR/test/<class>/...)")
    root = root.expanduser()
    if not root.exists():
        raise DataError(f"image folder {str(root)!r} not found; check the path")
    return root


def _split_dir(root: Path, split: str) -> Path | None:
    names = {"train": ("train", "training"), "val": ("val", "valid", "validation"), "test": ("test", "testing")}
    for n in names[split]:
        if (root / n).is_dir():
            return root / n
    return None


def _find_classes(folder: Path) -> list[str]:
    if folder.is_file():
        raise UserError(f"{str(folder)!r} is a file; pass a folder with one sub-folder of images per class")
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"no class folders in {str(folder)!r}; arrange images as {folder}/<class>/<image> "
                        "(one sub-folder per class)")
    return classes


def _scan_folder(folder: Path, classes: list[str]) -> tuple[list[Path], list[int], list[tuple[str, str]]]:
    """Image files and labels under ``folder``'s class folders, and the (name, reason) of entries left out
    because they are not regular files: a FIFO named x.jpg would block the reader forever (docs/robustness.md)."""
    import stat

    paths, targets = [], []
    special: list[tuple[str, str]] = []
    empty = []
    for label, cls in enumerate(classes):
        d = folder / cls
        if not d.is_dir():
            continue
        before = len(paths)
        for dirpath, _, files in sorted(os.walk(d, followlinks=True)):
            for f in sorted(files):
                if is_image_name(f):
                    full = Path(dirpath) / f
                    try:
                        mode = os.stat(full).st_mode
                    except OSError as exc:
                        special.append((str(full), f"{str(full)!r} cannot be read ({exc.strerror}); skipped"))
                        continue
                    if not stat.S_ISREG(mode):
                        special.append((str(full), f"{str(full)!r} is not a regular file (a FIFO, socket or "
                                                   "device); skipped"))
                        continue
                    paths.append(full)
                    targets.append(label)
        if len(paths) == before:
            empty.append(cls)
    if paths and empty:
        raise DataError(f"no images in class folder{'s' if len(empty) > 1 else ''} "
                        f"{', '.join(repr(str(folder / e)) for e in empty[:3])}; add images to it or remove it")
    if not paths:
        raise DataError(f"no images in {str(folder)!r} (looked for {', '.join(('.jpg', '.png', '...'))} under "
                        f"{len(classes)} class folders); add images or point --data-dir at the right folder")
    return paths, targets, special


# ----------------------------------------------------------------------------------------------------
# The entry point


def holdout_split(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) positions: a fixed-seed random ``val_fraction`` of ``range(n)`` held out, both sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}; e.g. 0.1 holds out 10% of train")
    n_val = int(round(n * val_fraction))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def load_dataset(
    name: str,
    split: str = "train",
    *,
    data_dir: str | Path | None = None,
    transform: Callable | None = None,
    channels: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    skip_bad_images: bool = False,
    download: bool = False,
) -> ImageDataset:
    """Dataset ``name``'s ``split`` ("train", "val" or "test") as an :class:`ImageDataset`.

    Args:
        name: "fashion-mnist", "mnist", "cifar10", "imagenette", "folder" (with ``data_dir``), or the path of
            a folder or of a tarball (.tar.gz, .tgz, .tar) of ``train/<class>/*`` (and ``val/``, ``test/``).
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
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    key = canonical_name(name)
    stats = dataset_stats(name, data_dir=data_dir) if key == "folder" else _BUILTIN[key]
    channels = channels or stats.channels
    if channels not in (1, 3):
        raise UserError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    common = dict(name=key if key != "folder" else stats.name, classes=stats.classes, channels=channels,
                  transform=transform)

    def holdout(build: Callable[[str], ImageDataset]) -> ImageDataset:
        if split == "test":
            return build("test")
        full = build("train")
        train_pos, val_pos = holdout_split(len(full), val_fraction, split_seed)
        return full.subset(train_pos if split == "train" else val_pos, split)

    if key in ("fashion-mnist", "mnist"):
        folder = _find_idx(key, data_dir, download)

        def build_idx(s: str) -> ImageDataset:
            images, labels = _load_idx_split(folder, "train" if s == "train" else "t10k")
            return TensorImageDataset(images, labels, split=s, **common)

        return holdout(build_idx)

    if key == "imagenette":
        path = _find_imagenette(data_dir)
        if path.is_dir():
            return _folder_dataset(path, split, common, val_fraction, split_seed, skip_bad_images,
                                   expect=IMAGENETTE_WNIDS)
        return _archive_dataset(path, split, common, val_fraction, split_seed, skip_bad_images,
                                expect=IMAGENETTE_WNIDS)

    if key == "cifar10":
        path = _find_cifar(data_dir)
        if path.is_dir():
            return _folder_dataset(path, split, common, val_fraction, split_seed, skip_bad_images)
        members = _read_tar(path, path.stat().st_mtime)

        def build_tar(s: str) -> ImageDataset:
            if s not in members:
                raise DataError(f"tarball {str(path)!r} has no {s}/<class>/ images; it needs train/ and test/")
            rows = members[s]
            index = {c: k for k, c in enumerate(stats.classes)}
            unknown = sorted({c for _, c, _ in rows if c not in index})
            if unknown:
                raise DataError(f"tarball {str(path)!r} has classes {unknown} that CIFAR-10 does not; "
                                "use name='folder' for other data")
            return EncodedImageDataset([b for _, _, b in rows], [f"{path.name}:{n}" for n, _, _ in rows],
                                       [index[c] for _, c, _ in rows], split=s, skip_bad_images=skip_bad_images,
                                       **common)

        return holdout(build_tar)

    root = _folder_root(name, data_dir)
    if root.is_file():
        return _archive_dataset(root, split, common, val_fraction, split_seed, skip_bad_images)
    return _folder_dataset(root, split, common, val_fraction, split_seed, skip_bad_images)


def _check_classes(folders: Sequence[str], where: str, expect: Sequence[str] | None) -> None:
    if expect is not None and list(folders) != list(expect):
        odd = sorted(set(folders) ^ set(expect))[:3]
        raise DataError(f"{where} does not hold the Imagenette classes (differs in {odd}); pass its path as the "
                        "dataset (--dataset PATH) to train on other classes")
    if len(folders) < 2:
        raise DataError(f"{where} has a single class folder ({folders[0]!r}); a classifier needs at least two: "
                        "add one sub-folder of images per class")


def _archive_dataset(path: Path, split: str, common: dict, val_fraction: float, seed: int, skip_bad_images: bool,
                     expect: Sequence[str] | None = None) -> ImageDataset:
    """A class-folder tarball (``train/<class>/*``, optionally ``val/`` and ``test/``), read in place."""
    layout = archive_layout(path)
    if "train" not in layout:
        raise DataError(f"tarball {str(path)!r} has no train/<class>/ images (it has {sorted(layout)[:3]}); it "
                        "needs train/<class>/<image>")
    folders = list(layout["train"])
    _check_classes(folders, f"tarball {str(path)!r}", expect)
    common = {**common, "classes": display_names(folders)}
    index = {f: k for k, f in enumerate(folders)}

    def build(s: str) -> ImageDataset:
        extra = sorted(set(layout[s]) - set(folders))
        if extra:
            raise DataError(f"tarball {str(path)!r} has {s}/ class folders {extra[:3]} that train/ lacks; every "
                            "split needs the same class folders")
        members = [m for f in folders for m in layout[s].get(f, [])]
        return ArchiveImageDataset(path, members, [index[m.folder] for m in members], split=s,
                                   skip_bad_images=skip_bad_images, **common)

    if split == "test" and "test" not in layout:
        raise DataError(f"no test/ folder in tarball {str(path)!r}; evaluate on split 'val'"
                        f"{'' if 'val' in layout else ' (held out from train)'}")
    if split in layout and (split != "train" or "val" in layout):
        return build(split)
    full = build("train")  # no val/: val is held out of train, and train is the rest
    train_pos, val_pos = holdout_split(len(full), val_fraction, seed)
    return full.subset(train_pos if split == "train" else val_pos, split)


def _folder_dataset(root: Path, split: str, common: dict, val_fraction: float, seed: int,
                    skip_bad_images: bool, expect: Sequence[str] | None = None) -> ImageDataset:
    train_dir = _split_dir(root, "train")
    if train_dir is None:
        train_dir = root  # DIR/<class>/... : train only; val is held out
    folders = _find_classes(train_dir)
    common = {**common, "classes": display_names(folders)}

    def build(folder: Path, s: str) -> ImageDataset:
        paths, targets, special = _scan_folder(folder, folders)
        _check_classes(folders, repr(str(train_dir)), expect)
        extra = sorted(set(_find_classes(folder)) - set(folders))
        if extra:
            raise DataError(f"{str(folder)!r} has class folders {extra[:3]} that train/ lacks; "
                            "every split needs the same class folders")
        ds = EncodedImageDataset(paths, [str(p) for p in paths], targets, split=s,
                                 skip_bad_images=skip_bad_images, **common)
        ds.skipped = special + ds.skipped  # counted with the unreadable images
        return ds

    if split == "test":
        own = _split_dir(root, "test")
        if own is None:
            raise DataError(f"no test/ folder in {str(root)!r}; add {root}/test/<class>/... or evaluate on "
                            "split 'val'")
        return build(own, "test")
    val_dir = _split_dir(root, "val")
    if val_dir is not None:  # a val/ folder: train and val as on disk
        return build(train_dir if split == "train" else val_dir, split)
    full = build(train_dir, "train")
    train_pos, val_pos = holdout_split(len(full), val_fraction, seed)
    return full.subset(train_pos if split == "train" else val_pos, split)


def compute_mean_std(dataset: ImageDataset, max_images: int | None = None) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of pixels in [0, 1] over (the first ``max_images`` of) ``dataset``."""
    n = len(dataset) if max_images is None else min(max_images, len(dataset))
    total = sq = None
    count = 0
    for i in range(n):
        img = dataset[i][0]
        x = img.to(torch.float64).flatten(1) / 255.0
        total = x.sum(1) if total is None else total + x.sum(1)
        sq = (x * x).sum(1) if sq is None else sq + (x * x).sum(1)
        count += x.shape[1]
    if not count:
        raise DataError("cannot compute statistics of an empty dataset")
    mean = total / count
    std = (sq / count - mean * mean).clamp_min(0).sqrt()
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]
