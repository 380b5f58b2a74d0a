"""Imagenette (fastai's ten easy ImageNet classes): ``imagenette-224.tar.gz`` (or an ``imagenette/`` folder) of
``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``, read in place (folder.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ...errors import DataError
from ..archives import IMAGENETTE_WNIDS, display_names, find_archive
from ..datasets import DatasetStats, ImageDataset, data_roots, photo_stats
from ..registry import PHOTOS, DatasetSpec, LoadRequest, register_dataset
from .folder import load_class_folders

#: Where ``imagenette`` is looked for inside each data root, in order.
IMAGENETTE_FILES = ("imagenette-224.tar.gz", "imagenette2.tgz", "imagenette2-320.tgz", "imagenette2-160.tgz",
                    "imagenette", "imagenette2", "imagenette-224")
# Photos of varying size; ImageNet's mean/std, since Imagenette is ten ImageNet classes.
IMAGENETTE = replace(photo_stats("imagenette", display_names(IMAGENETTE_WNIDS)), num_train=9_469, num_test=3_925,
                     files={"train": "imagenette-224.tar.gz", "val": "imagenette-224.tar.gz"})


def find_imagenette(data_dir: str | Path | None) -> Path:
    candidates = [c for root in data_roots(data_dir) for c in (root, *(root / f for f in IMAGENETTE_FILES))]
    found = find_archive(candidates)
    if found is not None:
        return found
    looked = ", ".join(str(r) for r in data_roots(data_dir)) or "nowhere: no --data-dir and no GOOGLENET_DATA"
    raise DataError(f"imagenette not found (no {IMAGENETTE_FILES[0]} or imagenette/ folder in {looked}); pass "
                    "--data-dir DIR holding imagenette-224.tar.gz (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG) or set "
                    "GOOGLENET_DATA=DIR")


def load_imagenette(request: LoadRequest, stats: DatasetStats) -> ImageDataset:
    return load_class_folders(find_imagenette(request.data_dir), request, stats, expect=IMAGENETTE_WNIDS,
                              expect_name="Imagenette")


register_dataset(DatasetSpec("imagenette", load_imagenette, lambda _: IMAGENETTE, PHOTOS, splits=("train", "val"),
                             aliases=("imagenette2", "imagenette-224"),
                             description="fastai's 13,394 photos of 10 easy ImageNet classes"))
