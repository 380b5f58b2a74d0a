"""Fashion-MNIST and MNIST: LeCun et al.'s IDX files (gzipped or not), held in memory as one uint8 tensor."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ...system.files import cache_root
from ..datasets import DatasetStats, ImageDataset, TensorImageDataset, data_roots, pick_split
from ..registry import SMALL, DatasetSpec, LoadRequest, register_dataset

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}

# Means and standard deviations of the train split's pixels in [0, 1], measured with
# googlenet.data.compute_mean_std on these exact files.
FASHION_MNIST = DatasetStats(
    "fashion-mnist", 1, 28, (0.2860,), (0.3530,),
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    60_000, 10_000, IDX_FILES,
)
MNIST = DatasetStats("mnist", 1, 28, (0.1307,), (0.3081,), tuple(str(d) for d in range(10)), 60_000, 10_000,
                     IDX_FILES, hflip=False)


def find_idx(key: str, data_dir: str | Path | None, download: bool) -> Path:
    """The folder holding ``key``'s IDX files: ``data_dir`` and ``$GOOGLENET_DATA`` (and their ``key``
    sub-folders), Debian's package for Fashion-MNIST, then the cache folder (where --download puts them)."""
    want = "train-images-idx3-ubyte"
    candidates: list[Path] = []
    for root in data_roots(data_dir):
        candidates += [root, root / key, root / key.replace("-", "_"), root / key / "raw"]
    if key == "fashion-mnist":
        candidates.append(DEBIAN_FASHION_MNIST)
    cache = cache_root() / key
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


def read_idx(path: Path, kind: str) -> np.ndarray:
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
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte", "image")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte", "label")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"IDX files in {str(folder)!r} disagree: {images.shape} images, {labels.shape} labels; "
                        "replace them with the dataset's originals")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def load_idx(request: LoadRequest, stats: DatasetStats) -> ImageDataset:
    folder = find_idx(stats.name, request.data_dir, request.download)

    def build(split: str) -> ImageDataset:
        images, labels = _load_idx_split(folder, "train" if split == "train" else "t10k")
        return TensorImageDataset(images, labels, split=split, name=stats.name, classes=stats.classes,
                                  channels=request.channels, transform=request.transform)

    return pick_split(request.split, ("train", "test"), build, val_fraction=request.val_fraction,
                      seed=request.split_seed, no_test="")  # IDX data always has a test split


register_dataset(DatasetSpec("fashion-mnist", load_idx, lambda _: FASHION_MNIST, SMALL,
                             aliases=("fashion_mnist", "fashionmnist"),
                             description="Zalando's 70,000 28x28 grey clothing images (Xiao et al. 2017)"))
register_dataset(DatasetSpec("mnist", load_idx, lambda _: MNIST, SMALL,
                             description="LeCun et al.'s 70,000 28x28 grey handwritten digits"))
