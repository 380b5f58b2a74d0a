"""Class folders: an ImageFolder tree (``DIR/train/<class>/*``, optionally ``val/`` and ``test/``, or
``DIR/<class>/*`` for train only) or a tarball of one, read in place. A user's path is this format
(``folder``); CIFAR-10 and Imagenette are class-folder tarballs too (cifar10.py, imagenette.py).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ...errors import DataError, UserError
from ..archives import archive_layout, display_names
from ..datasets import (
    ArchiveImageDataset,
    DatasetStats,
    EncodedImageDataset,
    ImageDataset,
    photo_stats,
    pick_split,
)
from ..images import is_image_name
from ..registry import PHOTOS, DatasetSpec, LoadRequest, register_dataset

_SPLIT_DIRS = {"train": ("train", "training"), "val": ("val", "valid", "validation"), "test": ("test", "testing")}


def load_class_folders(path: Path, request: LoadRequest, stats: DatasetStats, *,
                       expect: Sequence[str] | None = None, expect_name: str = "") -> ImageDataset:
    """``request.split`` of the class-folder tree or tarball at ``path``; ``expect``: the class folders a
    built-in dataset must have (``expect_name`` names it in the error)."""
    if path.is_file():
        return _archive_dataset(path, request, stats, expect, expect_name)
    return _folder_dataset(path, request, stats, expect, expect_name)


def _check_classes(folders: Sequence[str], where: str, expect: Sequence[str] | None, expect_name: str) -> None:
    if expect is not None and list(folders) != list(expect):
        odd = sorted(set(folders) ^ set(expect))[:3]
        raise DataError(f"{where} does not hold the {expect_name} classes (differs in {odd}); pass its path as "
                        "the dataset (--dataset PATH) to train on other classes")
    if len(folders) < 2:
        raise DataError(f"{where} has a single class folder ({folders[0]!r}); a classifier needs at least two: "
                        "add one sub-folder of images per class")


def _archive_dataset(path: Path, request: LoadRequest, stats: DatasetStats, expect: Sequence[str] | None,
                     expect_name: str) -> ImageDataset:
    layout = archive_layout(path)
    if "train" not in layout:
        raise DataError(f"tarball {str(path)!r} has no train/<class>/ images (it has {sorted(layout)[:3]}); it "
                        "needs train/<class>/<image>")
    folders = list(layout["train"])
    _check_classes(folders, f"tarball {str(path)!r}", expect, expect_name)
    index = {f: k for k, f in enumerate(folders)}

    def build(s: str) -> ImageDataset:
        extra = sorted(set(layout[s]) - set(folders))
        if extra:
            raise DataError(f"tarball {str(path)!r} has {s}/ class folders {extra[:3]} that train/ lacks; every "
                            "split needs the same class folders")
        members = [m for f in folders for m in layout[s].get(f, [])]
        return ArchiveImageDataset(path, members, [index[m.folder] for m in members], split=s,
                                   skip_bad_images=request.skip_bad_images, name=stats.name,
                                   classes=display_names(folders), channels=request.channels,
                                   transform=request.transform)

    no_test = (f"no test/ folder in tarball {str(path)!r}; evaluate on split 'val'"
               f"{'' if 'val' in layout else ' (held out from train)'}")

    return pick_split(request.split, tuple(layout), build, val_fraction=request.val_fraction,
                      seed=request.split_seed, no_test=no_test)


def _folder_dataset(root: Path, request: LoadRequest, stats: DatasetStats, expect: Sequence[str] | None,
                    expect_name: str) -> ImageDataset:
    train_dir = split_dir(root, "train") or root  # DIR/<class>/... : train only; val is held out
    folders = find_classes(train_dir)
    dirs = {"train": train_dir, **{s: d for s in ("val", "test") if (d := split_dir(root, s)) is not None}}

    def build(s: str) -> ImageDataset:
        folder = dirs[s]
        paths, targets, special = _scan_folder(folder, folders)
        _check_classes(folders, repr(str(train_dir)), expect, expect_name)
        extra = sorted(set(find_classes(folder)) - set(folders))
        if extra:
            raise DataError(f"{str(folder)!r} has class folders {extra[:3]} that train/ lacks; "
                            "every split needs the same class folders")
        ds = EncodedImageDataset(paths, [str(p) for p in paths], targets, split=s,
                                 skip_bad_images=request.skip_bad_images, name=stats.name,
                                 classes=display_names(folders), channels=request.channels,
                                 transform=request.transform)
        ds.skipped = special + ds.skipped  # counted with the unreadable images
        return ds

    no_test = f"no test/ folder in {str(root)!r}; add {root}/test/<class>/... or evaluate on split 'val'"

    return pick_split(request.split, tuple(dirs), build, val_fraction=request.val_fraction,
                      seed=request.split_seed, no_test=no_test)


def split_dir(root: Path, split: str) -> Path | None:
    for n in _SPLIT_DIRS[split]:
        if (root / n).is_dir():
            return root / n
    return None


def find_classes(folder: Path) -> list[str]:
    if folder.is_file():
        raise UserError(f"{str(folder)!r} is a file; pass a folder with one sub-folder of images per class")
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"no class folders in {str(folder)!r}; arrange images as {folder}/<class>/<image> "
                        "(one sub-folder per class)")
    return classes


def _regular_image(full: Path) -> str | None:
    """Why ``full`` is left out (not a regular file: a FIFO named x.jpg would block the reader forever,
    docs/robustness.md), or None to keep it."""
    try:
        mode = os.stat(full).st_mode
    except OSError as exc:
        return f"{str(full)!r} cannot be read ({exc.strerror}); skipped"
    if not stat.S_ISREG(mode):
        return f"{str(full)!r} is not a regular file (a FIFO, socket or device); skipped"
    return None


def _scan_folder(folder: Path, classes: list[str]) -> tuple[list[Path], list[int], list[tuple[str, str]]]:
    """Image files and labels under ``folder``'s class folders, and the (name, reason) of entries left out
    because they are not regular files."""
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
                if not is_image_name(f):
                    continue
                full = Path(dirpath) / f
                reason = _regular_image(full)
                if reason is not None:
                    special.append((str(full), reason))
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
# A user's folder or tarball


def folder_root(request: LoadRequest) -> Path:
    """The folder or tarball ``request`` names: the path itself, or ``data_dir`` for the name ``folder``."""
    if str(request.name).lower() not in ("folder", "imagefolder"):
        root = Path(request.name)
    elif request.data_dir is not None:
        root = Path(request.data_dir)
    else:
        raise UserError("dataset 'folder' needs the folder: pass --data-dir DIR (DIR/train/<class>/*.jpg, "
                        "optionally DIR/val/<class>/..., DIR/test/<class>/...)")
    root = root.expanduser()
    if not root.exists():
        raise DataError(f"image folder {str(root)!r} not found; check the path")
    return root


def folder_stats(request: LoadRequest) -> DatasetStats:
    """The classes read from the folder or tarball (ImageNet wnids shown by name), ImageNet's normalization."""
    root = folder_root(request)
    if root.is_file():
        layout = archive_layout(root)
        folders = list(layout.get("train") or next(iter(layout.values())))
    else:
        folders = find_classes(split_dir(root, "train") or root)
    return photo_stats(str(root), display_names(folders))


register_dataset(DatasetSpec(
    "folder", lambda request, stats: load_class_folders(folder_root(request), request, stats), folder_stats,
    PHOTOS, splits=("train", "val", "test"), aliases=("imagefolder",), claims=lambda name: Path(name).exists(),
    claim_order=100,  # any existing path no other format claims: the errors name what is wrong with it
    description="your images: DIR/train/<class>/*.jpg (optional val/, test/), or a .tar.gz/.tgz/.tar of them"))
