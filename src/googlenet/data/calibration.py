"""Real photos for calibration and measurement when a command has no dataset of its own (predict, serve, bench).

int8 ranges, ``--backend auto``'s measurement and the bench's inputs need real photos, not noise: activations
of noise have other ranges. These are CIFAR-10 training photos, round-robin over the classes, resized, as
pixels in [0, 1] (each model applies its own normalization).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch

from ..errors import DataError, UserError


def calibration_photos(n: int, size: int, *, channels: int = 3, data_dir: str | Path | None = None) -> torch.Tensor:
    """``n`` real CIFAR-10 training photos (N, channels, size, size) in [0, 1]; grey (``channels=1``) by
    averaging the colours. They come through :func:`googlenet.data.load_dataset` (``data_dir``, else
    ``$GOOGLENET_DATA``); fewer photos than ``n`` repeat. With neither (a fresh clone), the package's own
    pictures (:mod:`googlenet.data.synthetic`) stand in, and one note says so."""
    from .registry import load_dataset

    if channels not in (1, 3):
        raise UserError(f"real photos have 1 or 3 channels, not {channels}; use a model with in_channels 1 or 3")
    try:
        dataset = load_dataset("cifar10", "train", data_dir=data_dir, val_fraction=0.0)
    except DataError:
        if data_dir is not None:  # a folder the user named: its problem is theirs to fix
            raise
        from .synthetic import synthetic_photos

        _note_synthetic()
        x = synthetic_photos(n, size)
        return (x.mean(1, keepdim=True) if channels == 1 else x).contiguous()
    targets = dataset.targets
    classes = int(targets.max()) + 1
    per_class = [torch.nonzero(targets == c).flatten()[: -(-n // classes)] for c in range(classes)]
    order = [int(i) for group in zip(*per_class, strict=False) for i in group][:n]
    x = torch.stack([dataset[i][0] for i in order]).float() / 255.0
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    if channels == 1:
        x = x.mean(1, keepdim=True)
    if len(x) < n:
        x = x.repeat((n + len(x) - 1) // len(x), 1, 1, 1)[:n]
    return x.contiguous()


@functools.cache
def _note_synthetic() -> None:  # once per process: inference and training both ask for images
    print("googlenet: note: no CIFAR-10 photos (--data-dir / $GOOGLENET_DATA): the inputs, and int8's calibration, "
          "are the package's synthetic pictures (googlenet.data.synthetic); pass --data-dir for real photos",
          file=sys.stderr, flush=True)
