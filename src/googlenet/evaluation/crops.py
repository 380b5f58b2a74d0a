"""Test-time crops: 1 centre crop, AlexNet's 10 crops, GoogLeNet's 144 crops.

GoogLeNet's ILSVRC 2014 result came from its test protocol as much as its network (section 7):

    "we resize the image to 4 scales where the shorter dimension (height or width) is 256, 288, 320
    and 352 respectively, take the left, center and right square of these resized images (in the case
    of portrait images, we take the top, center and bottom squares). For each square, we then take the
    4 corners and the center 224x224 crop as well as the square resized to 224x224, and their mirrored
    versions. This results in 4x3x6x2 = 144 crops per image." The softmax probabilities are averaged
    over the crops (and over the models of an ensemble).

The 10-crop protocol is AlexNet's (Krizhevsky et al. 2012, section 4.1): the image rescaled so its
shorter side is 256 and the central 256x256 square kept (section 2), then "the four corner patches and
the center patch as well as their horizontal reflections".

For a crop size other than 224 every scale is multiplied by ``crop_size / 224`` (a 28-pixel crop reads
scales 32, 36, 40, 44), so a model trained on small images sees the same geometry.

Crops are generated view by view on a *batch* of same-sized images (N, C, H, W), so a forward pass
can take many images' crops at once and memory never holds more than one resized batch and one view
per image beyond what the caller asks for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from ..data.preprocessing import resize_short
from ..errors import UserError

#: Section 7: the shorter side of the test image at the four scales, for a 224 crop.
PAPER_SCALES: tuple[int, ...] = (256, 288, 320, 352)
#: The usual single scale (shorter side 256 for a 224 crop) of AlexNet and the 1/10-crop protocols.
SINGLE_SCALE = 256
REFERENCE_CROP = 224
CROP_SETTINGS = (1, 10, 144)


def scaled(scale: int, crop_size: int) -> int:
    """A paper scale (for a 224 crop) in proportion to ``crop_size``: 256 -> 32 for a 28 crop."""
    return max(crop_size, int(round(scale * crop_size / REFERENCE_CROP)))


#: The largest crop side and test scale (shorter side): a 4096-px 4:3 photo in float32 is 268 MB, and the
#: model's activations of one crop at that size already take gigabytes; the same bound as a model file's
#: recorded input size (data/preprocessing.py MAX_INPUT_SIDE).
MAX_TEST_SIDE = 4096


@dataclass(frozen=True)
class CropProtocol:
    """How many crops to take of each test image, at which scales.

    Args:
        crops: 1 (centre crop), 10 (AlexNet) or 144 (GoogLeNet, section 7).
        crop_size: side of the square the model reads (224 in the paper).
        scales: shorter-side lengths the image is resized to before cropping. Default: 256 for 1 and
            10 crops, (256, 288, 320, 352) for 144 crops, each scaled by ``crop_size / 224``. With
            ``crops=144`` any number of scales may be given (36 crops per scale).
    """

    crops: int = 1
    crop_size: int = REFERENCE_CROP
    scales: tuple[int, ...] | None = None
    #: How images are resized to each scale (antialiased): the weights' own (a record's ``interpolation``).
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.crops not in CROP_SETTINGS:
            raise UserError(f"--crops must be 1, 10 or 144 (the paper's protocols), got {self.crops}")
        if self.crop_size < 1:
            raise UserError(f"crop size must be a positive number of pixels, got {self.crop_size}")
        if self.crop_size > MAX_TEST_SIDE:  # bounds before work (docs/robustness.md): not a 40 GB resize
            raise UserError(f"crop size {self.crop_size} is over the {MAX_TEST_SIDE}-pixel bound on test images; "
                            "pass a smaller --crop-size")
        if self.scales is None:
            default = PAPER_SCALES if self.crops == 144 else (SINGLE_SCALE,)
            object.__setattr__(self, "scales", tuple(scaled(s, self.crop_size) for s in default))
        scales = tuple(int(s) for s in self.scales)
        object.__setattr__(self, "scales", scales)
        if not scales:
            raise UserError("no test scales given; pass e.g. --scales 256,288,320,352")
        if self.crops in (1, 10) and len(scales) != 1:
            raise UserError(f"{self.crops}-crop testing reads one scale, got {len(scales)} ({scales}); "
                            "pass one --scales value or use --crops 144 for several")
        too_large = [s for s in scales if s > MAX_TEST_SIDE]
        if too_large:
            raise UserError(f"test scale {too_large[0]} is over the {MAX_TEST_SIDE}-pixel bound on the shorter side "
                            "an image is resized to; pass smaller --scales")
        too_small = [s for s in scales if s < self.crop_size]
        if too_small:
            raise UserError(f"test scale {too_small[0]} is smaller than the {self.crop_size}-pixel crop; "
                            f"use scales of at least {self.crop_size} (e.g. --scales "
                            f"{','.join(str(scaled(s, self.crop_size)) for s in PAPER_SCALES)}) or a smaller "
                            "--crop-size")

    @property
    def num_crops(self) -> int:
        """Crops per image, i.e. forward passes per image per model (Table 3's "cost")."""
        if self.crops == 144:
            return len(self.scales) * 3 * 6 * 2  # scales x squares x views x mirrors
        return self.crops

    def views(self, images: Tensor) -> Iterator[Tensor]:
        """Yield the crops of a batch of same-sized images, one view at a time: each (N, C, s, s)."""
        for view, weight in self.weighted_views(images):
            for _ in range(weight):
                yield view

    def weighted_views(self, images: Tensor) -> Iterator[tuple[Tensor, int]]:
        """Like :meth:`views`, but a view that occurs ``w`` times (the three coinciding squares of a
        square image) is yielded once as ``(view, w)``: the same average for fewer forward passes."""
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.dim() != 4:
            raise UserError(f"crops need images shaped (N, C, H, W) or (C, H, W), got {tuple(images.shape)}")
        if self.crops == 1:
            yield TF.center_crop(resize_short(images, self.scales[0], self.interpolation), [self.crop_size]), 1
        elif self.crops == 10:
            yield from _ten_crop(_centre_square(resize_short(images, self.scales[0], self.interpolation)),
                                 self.crop_size)
        else:
            yield from _paper_144(images, self.scales, self.crop_size, self.interpolation)

    def __call__(self, image: Tensor) -> Tensor:
        """All crops of one image (C, H, W) stacked: (num_crops, C, s, s). Handy for inspection."""
        import torch

        return torch.cat(list(self.views(image)), dim=0)

    def describe(self) -> str:
        crops = "1 crop" if self.num_crops == 1 else f"{self.num_crops} crops"
        scales = "scale" if len(self.scales) == 1 else "scales"
        return f"{crops} of {self.crop_size}px at {scales} {', '.join(map(str, self.scales))}"


def _centre_square(images: Tensor) -> Tensor:
    side = min(images.shape[-2:])
    return TF.center_crop(images, [side])


def _five_positions(side: int, size: int) -> list[tuple[int, int]]:
    """(top, left) of the four corner crops and the centre crop of a ``side`` square (as five_crop)."""
    far = side - size
    centre = int(round(far / 2.0))
    return [(0, 0), (0, far), (far, 0), (far, far), (centre, centre)]


def _with_mirrors(square: Tensor, mirrored: Tensor, size: int) -> Iterator[Tensor]:
    """The 5 crops of ``square`` each followed by its mirror image, cut from ``mirrored`` (the square
    flipped left-right) so that only one flip per square is paid: the mirror of the crop at
    (top, left) is the crop at (top, side - size - left) of the flipped square."""
    side = square.shape[-1]
    for top, left in _five_positions(side, size):
        yield square[..., top:top + size, left:left + size]
        mirror_left = side - size - left
        yield mirrored[..., top:top + size, mirror_left:mirror_left + size]


def _ten_crop(square: Tensor, size: int) -> Iterator[tuple[Tensor, int]]:
    """AlexNet section 4.1: the four corners and the centre, then the same five of the mirrored square
    (torchvision's TenCrop order), as (view, multiplicity) pairs. When the crop is as large as the square
    (a 28x28 image tested whole) the five positions coincide: one view and one mirror, each counted 5
    times, for 2 forward passes instead of 10."""
    flipped = TF.horizontal_flip(square)
    positions = _five_positions(square.shape[-1], size)
    for image in (square, flipped):
        for top, left in dict.fromkeys(positions):
            yield image[..., top:top + size, left:left + size], positions.count((top, left))


def squares(images: Tensor) -> list[Tensor]:
    """Section 7: the left, centre and right squares (top, centre, bottom for portrait images).

    A square image gives the same square three times; the protocol still counts it three times, as
    the paper's 144 does.
    """
    return [images[..., top:top + side, left:left + side] for top, left, side in _square_boxes(images)]


def _square_boxes(images: Tensor) -> list[tuple[int, int, int]]:
    height, width = images.shape[-2:]
    side = min(height, width)
    far = max(height, width) - side
    offsets = (0, far // 2, far)
    if width >= height:  # landscape (or square): left, centre, right
        return [(0, o, side) for o in offsets]
    return [(o, 0, side) for o in offsets]  # portrait: top, centre, bottom


def _paper_144(images: Tensor, scales: Sequence[int], size: int,
               interpolation: str = "bilinear") -> Iterator[tuple[Tensor, int]]:
    """Section 7's 144 crops as (view, multiplicity) pairs.

    A square image has one square, not three: its left, centre and right squares coincide, so each
    of their 12 views is yielded once with multiplicity 3. The average is the same as over the 144
    crops, at a third of the forward passes.
    """
    for scale in scales:
        resized = resize_short(images, scale, interpolation)
        flipped = TF.horizontal_flip(resized)  # one flip per scale serves all 72 mirrored crops
        width = resized.shape[-1]
        boxes = _square_boxes(resized)
        for top, left, side in dict.fromkeys(boxes):  # distinct squares, in order
            weight = boxes.count((top, left, side))
            square = resized[..., top:top + side, left:left + side]
            mirror_left = width - side - left
            mirrored = flipped[..., top:top + side, mirror_left:mirror_left + side]
            # 6 views: 4 corners, centre, and the whole square resized to the crop size; each mirrored.
            for view in _with_mirrors(square, mirrored, size):
                yield view, weight
            whole = square if side == size else TF.resize(square, [size, size], antialias=True)
            yield whole, weight
            yield TF.horizontal_flip(whole), weight
