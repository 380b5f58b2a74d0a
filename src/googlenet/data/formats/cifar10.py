"""CIFAR-10 (Krizhevsky 2009): a class-folder tarball ``cifar10-jpeg.tar.gz`` of ``train/<class>/*.jpg`` and
``test/<class>/*.jpg`` read in place (folder.py), or that tree unpacked."""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..archives import find_archive
from ..datasets import DatasetStats, ImageDataset, data_roots
from ..registry import SMALL, DatasetSpec, LoadRequest, register_dataset
from .folder import load_class_folders

# The train split's pixel mean and std in [0, 1], measured with googlenet.data.compute_mean_std on the JPEG
# re-encoding in shared/data (they differ slightly from the original binary batches').
CIFAR10 = DatasetStats(
    "cifar10", 3, 32, (0.4913, 0.4821, 0.4465), (0.2452, 0.2428, 0.2606),
    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    50_000, 10_000, {"train": "cifar10-jpeg.tar.gz", "test": "cifar10-jpeg.tar.gz"},
)


def find_cifar(data_dir: str | Path | None) -> Path:
    candidates = [c for root in data_roots(data_dir)
                  for c in (root, root / "cifar10-jpeg.tar.gz", root / "cifar10", root / "cifar10-jpeg")]
    found = find_archive(candidates)
    if found is not None:
        return found
    looked = ", ".join(str(c) for c in candidates) or "nowhere: no --data-dir and no GOOGLENET_DATA"
    raise DataError(f"cifar10 not found (looked in {looked}); pass --data-dir DIR holding cifar10-jpeg.tar.gz "
                    "(train/<class>/*.jpg, test/<class>/*.jpg) or set GOOGLENET_DATA=DIR")


def load_cifar(request: LoadRequest, stats: DatasetStats) -> ImageDataset:
    return load_class_folders(find_cifar(request.data_dir), request, stats, expect=stats.classes,
                              expect_name="CIFAR-10")


register_dataset(DatasetSpec("cifar10", load_cifar, lambda _: CIFAR10, SMALL, aliases=("cifar-10", "cifar_10"),
                             description="Krizhevsky's 60,000 32x32 colour images of 10 classes"))
