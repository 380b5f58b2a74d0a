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
from .augment import DEFAULT_RATIO, RandomCrops
from .preprocessing import EVAL_CROP_FRACTION

AUGMENTATIONS = ("paper", "small", "photo", "flip", "none")
#: Section 6's crops: 8%-100% of the image area, aspect ratio in [3/4, 4/3]; and horizontal flips.
PAPER_CROPS = RandomCrops(scale=(0.08, 1.0), ratio=DEFAULT_RATIO, hflip=True)

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
    channels: int = 3,
    pad: int = 2,
    color_jitter: float = 0.4,
    crops: RandomCrops = PAPER_CROPS,
) -> v2.Compose:
    """The training pipeline for ``augment`` in :data:`AUGMENTATIONS`.

    ``crops``: the random-resized crops' area and aspect ranges (``paper``, ``photo``) and whether images
    are flipped (every recipe but ``none``); ``pad``: the ``small`` recipe's padding; ``color_jitter``: the
    ``paper`` recipe's brightness, contrast and saturation range (saturation only for RGB ``channels``).
    """
    if augment not in AUGMENTATIONS:
        raise UserError(f"unknown augmentation {augment!r}; use one of {', '.join(AUGMENTATIONS)}")
    scale, ratio, hflip = crops.scale, crops.ratio, crops.hflip
    steps: list = []
    if augment == "paper":
        if not 0 < scale[0] <= scale[1] <= 1:
            raise UserError(f"crop scale must satisfy 0 < min <= max <= 1, got {scale}; the paper uses 0.08 1.0")
        steps.append(v2.RandomChoice([
            v2.RandomResizedCrop(input_size, scale=scale, ratio=ratio, interpolation=m, antialias=True)
            for m in _PAPER_INTERPOLATIONS
        ]))
        if hflip:
            steps.append(v2.RandomHorizontalFlip())
        if color_jitter > 0:
            sat = color_jitter if channels == 3 else 0
            steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=sat))
    elif augment == "photo":  # random-resized crop and flip only (the cached pipeline's, data/augment.py)
        steps.append(v2.RandomResizedCrop(input_size, scale=scale, ratio=ratio, antialias=True))
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


class ImageTransform:
    """Image -> the network's input for a :class:`~googlenet.data.preprocessing.PretrainedCfg`: made by
    :func:`create_transform`. Takes a path (decoded as ``googlenet predict`` decodes it, a large JPEG at a
    reduced DCT scale), a PIL image of any mode, or a uint8 / [0, 1] float tensor (C, H, W); returns float32
    (C, input_size, input_size)."""

    def __init__(self, cfg, *, training: bool = False) -> None:
        if not cfg.input_size:
            raise UserError("the preprocessing record has no input_size; pass PretrainedCfg(input_size=...)")
        self.cfg = cfg.completed(input_size=cfg.input_size, channels=cfg.channels or 3)
        self.training = training
        self.resize = self.cfg.test_resize()
        size = self.cfg.input_size
        mode = v2.InterpolationMode(self.cfg.interpolation)
        self.augment = v2.Compose([v2.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                                                        interpolation=mode, antialias=True),
                                   v2.RandomHorizontalFlip()]) if training else None

    def pixels(self, image) -> torch.Tensor:
        """``image`` as a uint8 (or float) tensor (C, H, W) with the record's channels, before any resize."""
        from pathlib import Path

        from PIL import Image, ImageOps

        from .images import convert_image, decode_image, image_tensor

        # Predict shrinks a photo larger than the test scale while decoding (bounded memory); the same here.
        largest = None if self.training else self.resize
        if isinstance(image, (str, Path)):
            img = decode_image(image, self.cfg.channels, draft_short_side=largest)
            return image_tensor(img, max_short_side=largest)
        if isinstance(image, Image.Image):
            img = convert_image(ImageOps.exif_transpose(image) or image, self.cfg.channels)
            return image_tensor(img, max_short_side=largest)
        if isinstance(image, torch.Tensor) and image.dim() == 3:
            return image
        raise UserError(f"create_transform's transform takes a path, a PIL image or a tensor (C, H, W), got "
                        f"{type(image).__name__}{tuple(image.shape) if isinstance(image, torch.Tensor) else ''}")

    def __call__(self, image) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        from .preprocessing import resize_short

        x = self.pixels(image)
        if self.augment is not None:
            x = self.augment(x)
        else:
            x = TF.center_crop(resize_short(x[None], self.resize, self.cfg.interpolation), [self.cfg.input_size])[0]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return self.cfg.normalize(x[None])[0]

    def __repr__(self) -> str:
        c = self.cfg
        steps = (f"RandomResizedCrop({c.input_size}), RandomHorizontalFlip()" if self.training else
                 f"Resize({self.resize}, {c.interpolation}), CenterCrop({c.input_size})")
        return (f"ImageTransform(decode to {c.channels} channels, {steps}, {c.channel_order} x {c.scale:g}, "
                f"Normalize(mean={list(c.mean)}, std={list(c.std)}))")


def create_transform(source, *, training: bool = False) -> ImageTransform:
    """The transform from an image to what ``source``'s network reads, as timm's ``create_transform``.

    ``source``: a model of ``googlenet.create_model(name, pretrained=...)`` or of
    :func:`googlenet.weights.load_model` (its ``pretrained_cfg``), a model file or run folder, or a
    :class:`~googlenet.data.preprocessing.PretrainedCfg`. The evaluation transform (``training=False``) gives
    exactly the tensor ``googlenet predict`` feeds the network (1 crop: the shorter side resized to the
    record's ``resize``, the centre ``input_size`` crop, its normalization); ``training=True``: random-resized
    crops (8%-100% of the area, GoogLeNet section 6) and flips instead.
    """
    from .preprocessing import cfg_of

    return ImageTransform(cfg_of(source), training=training)
