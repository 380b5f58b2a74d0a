"""Arrays in a ``.npz`` file, as ``keras.datasets.mnist`` ships ``mnist.npz``: ``x_train`` (N, H, W) or
(N, H, W, C) uint8 and ``y_train`` (N), optionally ``x_test`` / ``y_test`` and ``classes`` (their names).
Read with ``allow_pickle=False``: loading a file never runs its code."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..datasets import DatasetStats, ImageDataset, TensorImageDataset, pick_split
from ..registry import SMALL, DatasetSpec, LoadRequest, register_dataset


@functools.lru_cache(maxsize=2)
def read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path!r} as arrays ({exc}); pass a file written by numpy.savez") from None


def npz_split(path: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``split``'s images as (N, C, H, W) uint8 and labels as int64."""
    arrays = read_npz(path)
    x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
    if x is None or y is None or x.dtype != np.uint8 or x.ndim not in (3, 4) or len(x) != len(y):
        raise DataError(f"{path!r} needs x_{split} (uint8, N x H x W or N x H x W x C) and y_{split} (N labels)")
    images = torch.from_numpy(x)
    images = images.unsqueeze(1) if x.ndim == 3 else images.permute(0, 3, 1, 2).contiguous()
    return images, torch.from_numpy(y.astype(np.int64))


@functools.lru_cache(maxsize=2)
def _stats(path: str) -> DatasetStats:
    images, labels = npz_split(path, "train")
    mean, std = [], []
    for c in range(images.shape[1]):  # from the histogram of the train pixels: no float copy of the images
        counts = torch.bincount(images[:, c].flatten(), minlength=256).double()
        levels = torch.arange(256, dtype=torch.float64) / 255
        m = float((counts * levels).sum() / counts.sum())
        mean.append(round(m, 4))
        std.append(round(float(((counts * (levels - m) ** 2).sum() / counts.sum()).sqrt()), 4))
    arrays = read_npz(path)
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else \
        [str(k) for k in range(int(labels.max()) + 1)]
    side = int(images.shape[-1]) if images.shape[-1] == images.shape[-2] else None
    return DatasetStats(Path(path).name, int(images.shape[1]), side, tuple(mean), tuple(std), tuple(classes))


def npz_stats(request: LoadRequest) -> DatasetStats:
    return _stats(str(Path(request.name).expanduser()))


def load_npz(request: LoadRequest, stats: DatasetStats) -> ImageDataset:
    path = str(Path(request.name).expanduser())

    def build(split: str) -> ImageDataset:
        images, labels = npz_split(path, split)
        return TensorImageDataset(images, labels, split=split, name=stats.name, classes=stats.classes,
                                  channels=request.channels, transform=request.transform)

    on_disk = ("train", "test") if "x_test" in read_npz(path) else ("train",)
    return pick_split(request.split, on_disk, build, val_fraction=request.val_fraction, seed=request.split_seed,
                      no_test=f"{path!r} has no x_test / y_test; evaluate on split 'val' (held out from train)")


register_dataset(DatasetSpec("npz", load_npz, npz_stats, SMALL, claims=lambda name: name.lower().endswith(".npz"),
                             description="arrays of small images in a .npz file (Keras's mnist.npz layout)"))
