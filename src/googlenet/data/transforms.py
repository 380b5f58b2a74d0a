"""Training and evaluation transforms (torchvision.transforms.v2), on uint8 ``tv_tensors.Image`` input.

* ``paper`` -- GoogLeNet section 6: crops of 8%-100% of the image area with aspect ratio in
  [3/4, 4/3], resized with a randomly chosen interpolation method, horizontal flips, and Howard's
  photometric distortions (brightness / contrast / saturation jitter; hue is left alone).
* ``small`` -- the usual recipe for 28x28 / 32x32 images: pad by ``pad`` pixels, random crop back to
  the image size, horizontal flip (not for digits, where a flip changes the class).
* ``photo`` -- random-resized crops and flips (the cached pipeline's, data/augment.py).
* ``flip`` -- the whole photo resized (its centre square), and flips: the Imagenette leaderboard's
  ``Resize`` + flip, which beats random-resized crops in a 5-epoch budget (docs/training.md#photos).
* ``none`` -- no augmentation, only conversion and normalization.

Every pipeline ends with conversion to float in [0, 1] and normalization by the dataset's mean/std.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from ..errors import UserError

AUGMENTATIONS = ("paper", "small", "photo", "flip", "none")

# Section 6 lists bilinear, area, nearest neighbour and cubic "with equal probability". Area (BOX)
# exists only for PIL images; on tensors antialiased bilinear is its equivalent when shrinking.
_PAPER_INTERPOLATIONS = (
    v2.InterpolationMode.BILINEAR,
    v2.InterpolationMode.NEAREST,
    v2.InterpolationMode.BICUBIC,
)


def _finish(mean: Sequence[float], std: Sequence[float]) -> list:
    # ToPureTensor: a tv_tensors.Image routes every later op (the whole network) through Python's
    # __torch_function__: Python overhead on every op (docs/training.md#data-costs).
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std)), v2.ToPureTensor()]


def train_transform(
    augment: str,
    *,
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    hflip: bool = True,
    pad: int = 2,
    channels: int = 3,
    color_jitter: float = 0.4,
    scale: tuple[float, float] = (0.08, 1.0),
) -> v2.Compose:
    """The training pipeline for ``augment`` in :data:`AUGMENTATIONS`."""
    if augment not in AUGMENTATIONS:
        raise UserError(f"unknown augmentation {augment!r}; use one of {', '.join(AUGMENTATIONS)}")
    steps: list = []
    if augment == "paper":
        if not 0 < scale[0] <= scale[1] <= 1:
            raise UserError(f"crop scale must satisfy 0 < min <= max <= 1, got {scale}; the paper uses 0.08 1.0")
        steps.append(v2.RandomChoice([
            v2.RandomResizedCrop(input_size, scale=scale, ratio=(3 / 4, 4 / 3), interpolation=m, antialias=True)
            for m in _PAPER_INTERPOLATIONS
        ]))
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
        if color_jitter > 0:
            sat = color_jitter if channels == 3 else 0
            steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=sat))
    elif augment == "photo":  # random-resized crop and flip only (the cached pipeline's, data/augment.py)
        steps.append(v2.RandomResizedCrop(input_size, scale=scale, ratio=(3 / 4, 4 / 3), antialias=True))
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
    elif augment == "flip":
        steps += [v2.Resize(input_size, antialias=True), v2.CenterCrop(input_size)]
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
    elif augment == "small":
        if pad < 0:
            raise UserError(f"pad must be >= 0, got {pad}")
        steps.append(v2.Resize(input_size, antialias=True))
        steps.append(v2.RandomCrop(input_size, padding=pad) if pad else v2.Identity())
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
    else:
        steps += eval_steps(input_size)
    return v2.Compose(steps + _finish(mean, std))


#: The usual single-crop evaluation: resize the shorter side to crop / 0.875 (256 for 224), then centre-crop.
EVAL_CROP_FRACTION = 0.875


def eval_steps(input_size: int, native_size: int | None = None, crop_fraction: float = EVAL_CROP_FRACTION) -> list:
    """Resize-and-center-crop for images of varying size; a plain resize for fixed-size datasets."""
    if native_size is not None:
        return [] if native_size == input_size else [v2.Resize(input_size, antialias=True)]
    return [v2.Resize(int(round(input_size / crop_fraction)), antialias=True), v2.CenterCrop(input_size)]


def eval_transform(
    *, input_size: int, mean: Sequence[float], std: Sequence[float], native_size: int | None = None,
    crop_fraction: float = EVAL_CROP_FRACTION,
) -> v2.Compose:
    """The evaluation pipeline: (resize, center crop,) float, normalize."""
    return v2.Compose(eval_steps(input_size, native_size, crop_fraction) + _finish(mean, std))
