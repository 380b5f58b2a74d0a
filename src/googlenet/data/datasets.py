"""What every dataset is, whatever its format: :class:`ImageDataset` and the three ways its images are held,
and the policies every format shares (the hold-out split, the bad-image policy, where files are looked for).

Every dataset is an :class:`ImageDataset`: ``dataset[i]`` is ``(image, label)`` where ``image`` is a
uint8 tensor (C x H x W, in the requested channel count), or what ``transform`` makes of it (the
transform receives it as a ``torchvision.tv_tensors.Image``). ``.classes`` holds the class names,
``.targets`` the labels and ``.skipped`` the ``(file, reason)`` pairs of images left out with ``skip_bad_images=True``.

A dataset answers for itself what the decoded cache (data/cache.py) and the batch paths without a
DataLoader (training/fastdata.py) ask: :attr:`ImageDataset.pixels` (the images held in memory, or None),
:attr:`ImageDataset.encoded` (whether its images are files or bytes to decode), :meth:`ImageDataset.fingerprint`
and :meth:`ImageDataset.source`. So nothing outside this module looks at a dataset's class. Which format
reads which name is the registry's (data/registry.py); the formats are in data/formats/.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from ..errors import DataError, UserError
from .archives import IMAGENETTE_WNIDS, Member, archive_bytes
from .imagenet import IMAGENET_MEAN, IMAGENET_STD
from .images import decode_image
from .preprocessing import PretrainedCfg
from .registry import SPLITS
from .transforms import EVAL_CROP_FRACTION

#: One fingerprint row per image: (path or member name or content hash, size in bytes, mtime).
FingerprintRow = tuple[str, int, int]


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


def photo_stats(name: str, classes: Sequence[str]) -> DatasetStats:
    """Photos of varying size (evaluation resizes and centre-crops) normalized with ImageNet's mean/std,
    the usual statistics for natural photos: user folders and tarballs; pass your own mean/std to the
    transforms when your images differ."""
    return DatasetStats(name, 3, None, IMAGENET_MEAN, IMAGENET_STD, tuple(classes))


def _match_channels(values: Sequence[float], channels: int) -> tuple[float, ...]:
    if len(values) == channels:
        return tuple(values)
    if channels == 1:  # RGB statistics -> grey (ITU-R 601-2 luma, as PIL converts)
        return (0.299 * values[0] + 0.587 * values[1] + 0.114 * values[2],)
    return tuple(values) * channels if len(values) == 1 else tuple(values)


class ImageDataset(Dataset):
    """Base class: ``(image, label)`` pairs, a subset of the underlying split given by ``indices``."""

    #: Whether the images are encoded files or bytes decoded on access (what the decoded cache is for).
    encoded = False

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

    @property
    def pixels(self) -> torch.Tensor | None:
        """The whole underlying split as one uint8 tensor (N, C, H, W) when it is held in memory, else None."""
        return None

    def fingerprint(self) -> list[FingerprintRow]:
        """One row per image of the underlying split, what a decoded cache is keyed by."""
        raise UserError(f"{type(self).__name__} holds no image files to cache; the decoded cache is for photo "
                        "datasets (folders and tarballs): in-memory data needs none")

    def source(self, j: int) -> str | Path | bytes:
        """What image ``j`` of the underlying split is decoded from: a file path or encoded bytes."""
        raise UserError(f"{type(self).__name__} holds its images decoded; there is no file to read")

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

    @property
    def pixels(self) -> torch.Tensor:
        return self.images

    def _image(self, j: int) -> tv_tensors.Image:
        img = self.images[j]
        if img.shape[0] != self.channels:
            img = img.expand(self.channels, -1, -1) if img.shape[0] == 1 else TF.rgb_to_grayscale(img)
        return tv_tensors.Image(img)


def readable(count: int, source: Callable[[int], str | Path | bytes], names: Sequence[str],
             channels: int) -> tuple[list[int], list[tuple[str, str]]]:
    """The bad-image policy of ``skip_bad_images=True``, for every format: decode each image once (one pass
    over the files) and keep what decodes. Returns the kept positions and the ``(name, reason)`` of the rest."""
    keep, skipped = [], []
    for k in range(count):
        try:
            decode_image(source(k), channels, name=names[k])
            keep.append(k)
        except DataError as exc:
            skipped.append((names[k], str(exc)))
    return keep, skipped


class EncodedImageDataset(ImageDataset):
    """Images decoded on access from files on disk or from encoded bytes."""

    encoded = True

    def __init__(self, sources: Sequence[str | Path | bytes], names: Sequence[str], targets: Sequence[int], *,
                 channels: int, skip_bad_images: bool = False, **kw: Any) -> None:
        sources, names, targets = list(sources), list(names), list(targets)
        skipped: list[tuple[str, str]] = []
        if skip_bad_images:
            keep, skipped = readable(len(sources), sources.__getitem__, names, channels)
            sources, names, targets = [sources[k] for k in keep], [names[k] for k in keep], [targets[k] for k in keep]
        self.sources, self.names = sources, names
        super().__init__(targets=targets, channels=channels, **kw)
        self.skipped = skipped
        if not self.sources:
            raise DataError(f"no readable images in {kw.get('name')!r} split {kw.get('split')!r}"
                            f"{f' ({len(skipped)} skipped as unreadable)' if skipped else ''}; check the folder")

    def source(self, j: int) -> str | Path | bytes:
        return self.sources[j]

    def fingerprint(self) -> list[FingerprintRow]:
        rows = []
        for s in self.sources:
            if isinstance(s, bytes):
                rows.append((hashlib.sha256(s).hexdigest(), len(s), 0))
                continue
            try:
                st = os.stat(s)
            except OSError:
                raise DataError(f"image {str(s)!r} is gone; the dataset changed while in use: run again") from None
            rows.append((str(Path(s).resolve()), st.st_size, st.st_mtime_ns))
        return rows

    def _image(self, j: int) -> tv_tensors.Image:
        img = decode_image(self.source(j), self.channels, name=self.names[j])
        return tv_tensors.Image(TF.pil_to_tensor(img))


class ArchiveImageDataset(EncodedImageDataset):
    """Images in a tarball, decoded on access; the bytes are read (once, all of them) only when needed.

    ``members`` (name, size, mtime of each image) is its fingerprint, so a run whose decoded cache
    (:mod:`googlenet.data.cache`) is valid never reads the tarball at all.
    """

    def __init__(self, archive: Path, members: Sequence[Member], targets: Sequence[int], *, channels: int,
                 skip_bad_images: bool = False, **kw: Any) -> None:
        self.archive = Path(archive)
        members, targets = list(members), list(targets)
        names = [f"{self.archive.name}:{m.name}" for m in members]
        skipped: list[tuple[str, str]] = []
        if skip_bad_images:
            data = archive_bytes(self.archive)
            keep, skipped = readable(len(members), lambda k: data[members[k].name], names, channels)
            members, targets, names = [members[k] for k in keep], [targets[k] for k in keep], [names[k] for k in keep]
        self.members, self.names = members, names
        ImageDataset.__init__(self, targets=targets, channels=channels, **kw)
        self.skipped = skipped
        if not self.members:
            raise DataError(f"no readable images in {str(self.archive)!r} split {kw.get('split')!r}; "
                            "check the tarball")

    @property
    def sources(self) -> list[bytes]:  # type: ignore[override]
        data = archive_bytes(self.archive)
        return [data[m.name] for m in self.members]

    def source(self, j: int) -> bytes:
        return archive_bytes(self.archive)[self.members[j].name]

    def fingerprint(self) -> list[FingerprintRow]:
        return [(m.name, m.size, m.mtime) for m in self.members]


# ----------------------------------------------------------------------------------------------------
# Policies every format shares


def holdout_split(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) positions: a fixed-seed random ``val_fraction`` of ``range(n)`` held out, both sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"val_fraction must be in [0, 1), got {val_fraction}; e.g. 0.1 holds out 10% of train")
    n_val = int(round(n * val_fraction))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


class MissingSplit(DataError):
    """The data has no such split on disk (a folder without test/): the trainer then evaluates without it."""


def pick_split(split: str, on_disk: Sequence[str], build: Callable[[str], ImageDataset], *,
               val_fraction: float, seed: int, no_test: str) -> ImageDataset:
    """The one hold-out rule of every format: ``split`` as on disk (``build(name)`` reads one); without a
    val split on disk, "val" is a fixed-seed ``val_fraction`` of train and "train" the rest; a missing test
    split raises :class:`MissingSplit` with the message ``no_test``."""
    if split == "test" and "test" not in on_disk:
        raise MissingSplit(no_test)
    if split in on_disk and (split != "train" or "val" in on_disk):
        return build(split)
    full = build("train")
    train_pos, val_pos = holdout_split(len(full), val_fraction, seed)
    return full.subset(train_pos if split == "train" else val_pos, split)


def data_roots(data_dir: str | Path | None) -> list[Path]:
    """Folders searched for dataset files, in order: ``data_dir``, then ``$GOOGLENET_DATA``."""
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get("GOOGLENET_DATA")
    if env:
        roots.append(Path(env).expanduser())
    return roots


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


__all__ = ["IMAGENETTE_WNIDS", "IMAGENET_MEAN", "IMAGENET_STD", "SPLITS", "ArchiveImageDataset", "DatasetStats",
           "EncodedImageDataset", "ImageDataset", "MissingSplit", "TensorImageDataset", "compute_mean_std",
           "data_roots", "holdout_split", "photo_stats", "pick_split", "readable"]
