"""Augmentation of whole uint8 batches (N, C, S, S) from the decoded cache: random-resized crops, flips.

The crops are torchvision's ``RandomResizedCrop`` (the paper's section 6 "patches ... whose size is
distributed evenly between 8% and 100% of the image area with aspect ratio constrained to the
interval [3/4, 4/3]"), drawn for a whole batch at once by :func:`sample_crops` with the same
algorithm -- ten attempts per image, then the whole image -- and returned as :class:`CropParams`,
so that tests and users can check what was drawn. The default area range here is
:data:`DEFAULT_SCALE` (35%-100%), the one fastai's Imagenette leaderboard entries train with: short
runs on small images do better with milder crops than the paper's 8%, which suited 70-epoch ImageNet runs.

How it is computed: per-image ``F.interpolate(..., antialias=True)`` on uint8 crops of a channels-last
batch, because PyTorch's uint8 antialiased resize kernel is vectorised for channels-last input only. The
alternatives -- the same on channels-first or float crops, ``torchvision.ops.roi_align`` (every crop in one
call, float, no antialiasing at 1 sample per bin), ``transforms.v2.functional.resized_crop`` per image -- are
all slower; ``benchmarks/data_pipeline.py`` times each of them every run (docs/training.md#photos, "The
cache and batched augmentation", has the figures with their host).

So crops stay uint8 and channels-last until :func:`normalize_batch`, which converts to float and
normalizes in one pass; the batch that comes out is channels-last float, as ``--channels-last``
training wants it (no copy at the model's input).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import UserError

#: Crop area range (fraction of the stored image) of the photo recipe; the paper's is (0.08, 1.0).
DEFAULT_SCALE = (0.35, 1.0)
#: Aspect ratio range of the crops (section 6: [3/4, 4/3]).
DEFAULT_RATIO = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class RandomCrops:
    """What training crops are drawn from: the area range ``scale`` and aspect range ``ratio`` of
    :func:`sample_crops`, and whether half the images are flipped (``hflip``)."""

    scale: tuple[float, float] = DEFAULT_SCALE
    ratio: tuple[float, float] = DEFAULT_RATIO
    hflip: bool = True

    def check(self) -> None:
        check_scale(self.scale, self.ratio)


@dataclass
class CropParams:
    """One crop per image: ``top``, ``left``, ``height``, ``width`` (pixels of the stored image), ``flip``.

    ``scale`` and ``aspect`` are the area fraction and aspect ratio that were drawn (the crop's own
    ``height * width / size**2`` differs from ``scale`` by the rounding to whole pixels); images whose ten
    attempts all failed take the whole image, with ``scale`` 1 and ``aspect`` 1.
    """

    top: torch.Tensor
    left: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    flip: torch.Tensor
    scale: torch.Tensor
    aspect: torch.Tensor

    def __len__(self) -> int:
        return len(self.top)

    def __getitem__(self, idx) -> CropParams:
        return CropParams(*(getattr(self, f)[idx] for f in ("top", "left", "height", "width", "flip", "scale",
                                                            "aspect")))


def check_scale(scale: Sequence[float], ratio: Sequence[float] = DEFAULT_RATIO) -> None:
    lo, hi = scale
    if not 0 < lo <= hi <= 1:
        raise UserError(f"crop scale must satisfy 0 < min <= max <= 1, got {tuple(scale)}; e.g. 0.35 1.0")
    if not 0 < ratio[0] <= ratio[1]:
        raise UserError(f"crop aspect ratios must satisfy 0 < min <= max, got {tuple(ratio)}; e.g. 0.75 1.333")


def sample_crops(n: int, size: int, *, scale: Sequence[float] = DEFAULT_SCALE,
                 ratio: Sequence[float] = DEFAULT_RATIO, hflip: bool = True,
                 generator: torch.Generator | None = None, attempts: int = 10) -> CropParams:
    """``n`` random-resized-crop boxes in a ``size x size`` image (torchvision's algorithm, vectorised)."""
    check_scale(scale, ratio)
    area = float(size * size)
    target = torch.empty(n, attempts, dtype=torch.float64).uniform_(scale[0], scale[1], generator=generator)
    log_r = torch.empty(n, attempts, dtype=torch.float64).uniform_(math.log(ratio[0]), math.log(ratio[1]),
                                                                   generator=generator)
    aspect = log_r.exp()
    w = torch.sqrt(target * area * aspect).round().long()
    h = torch.sqrt(target * area / aspect).round().long()
    ok = (w > 0) & (w <= size) & (h > 0) & (h <= size)
    first = ok.long().argmax(dim=1)  # the first attempt that fits, as torchvision's loop takes it
    found = ok.any(dim=1)
    pick = torch.arange(n)
    w, h = w[pick, first], h[pick, first]
    s, a = target[pick, first], aspect[pick, first]
    # Fallback for a square image: the whole image (torchvision's "central crop" with in_ratio 1).
    w, h = torch.where(found, w, size), torch.where(found, h, size)
    s, a = torch.where(found, s, 1.0), torch.where(found, a, 1.0)
    u = torch.rand(n, 2, dtype=torch.float64, generator=generator)
    top = (u[:, 0] * (size - h + 1)).floor().long().clamp_max(size - h)
    left = (u[:, 1] * (size - w + 1)).floor().long().clamp_max(size - w)
    flip = torch.rand(n, generator=generator) < 0.5 if hflip else torch.zeros(n, dtype=torch.bool)
    return CropParams(top, left, h, w, flip, s.float(), a.float())


def _resize(crop: torch.Tensor, out: int) -> torch.Tensor:
    if crop.shape[-2:] == (out, out):
        return crop
    # bilinear + antialias, as transforms.v2.RandomResizedCrop on tensors (antialias=True).
    return F.interpolate(crop, size=(out, out), mode="bilinear", antialias=True, align_corners=False)


def resized_crop_batch(x: torch.Tensor, params: CropParams, out: int) -> torch.Tensor:
    """Crop image ``i`` of ``x`` (N, C, S, S) uint8 to ``params[i]``, resize to ``out``, flip: uint8 channels-last."""
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise UserError(f"resized_crop_batch takes a uint8 (N, C, H, W) batch, got {x.dtype} {tuple(x.shape)}")
    if len(params) != len(x):
        raise UserError(f"{len(params)} crops for {len(x)} images; draw one crop per image")
    x = x.contiguous(memory_format=torch.channels_last)  # a no-op for batches from the cache
    n, c = x.shape[:2]
    y = torch.empty((n, c, out, out), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    top, left, h, w = (t.tolist() for t in (params.top, params.left, params.height, params.width))
    for i in range(n):
        y[i:i + 1] = _resize(x[i:i + 1, :, top[i]:top[i] + h[i], left[i]:left[i] + w[i]], out)
    flip = params.flip
    if bool(flip.any()):
        y[flip] = y[flip].flip(-1)
    return y


def center_crop_batch(x: torch.Tensor, out: int, crop: int | None = None) -> torch.Tensor:
    """The evaluation view: the centre ``crop`` x ``crop`` square (default ``out``), resized to ``out``.

    With a cache stored at ``round(out / 0.875)`` (146 for 128) and the default ``crop``, this is the
    usual resize-to-``out/0.875``-and-centre-crop of :func:`~googlenet.data.eval_transform`.
    """
    x = x.contiguous(memory_format=torch.channels_last)
    s = min(x.shape[-2:])
    side = min(crop or out, s)
    t, lft = (x.shape[-2] - side) // 2, (x.shape[-1] - side) // 2
    view = x[:, :, t:t + side, lft:lft + side]
    if side == out:
        return view.contiguous(memory_format=torch.channels_last)
    return _resize(view, out).contiguous(memory_format=torch.channels_last)


def normalize_batch(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 ``(x / 255 - mean) / std`` in one pass; keeps channels-last."""
    inv = torch.tensor([1.0 / (v * 255.0) for v in std], dtype=torch.float32)
    shift = -torch.tensor([m * 255.0 for m in mean], dtype=torch.float32) * inv
    # x * inv - mean * inv in one fused op over the (N, H, W, C) view of a channels-last batch, faster than
    # (x - mean) / std in two passes (docs/training.md#data-costs).
    nhwc = x.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
    return torch.addcmul(shift, nhwc.float(), inv).permute(0, 3, 1, 2)


def augment_batch(x: torch.Tensor, out: int, *, mean: Sequence[float], std: Sequence[float],
                  scale: Sequence[float] = DEFAULT_SCALE, ratio: Sequence[float] = DEFAULT_RATIO,
                  hflip: bool = True, generator: torch.Generator | None = None) -> tuple[torch.Tensor, CropParams]:
    """Random-resized crop + flip + normalize of a uint8 batch: (float channels-last batch, the crops drawn)."""
    params = sample_crops(len(x), x.shape[-1], scale=scale, ratio=ratio, hflip=hflip, generator=generator)
    return normalize_batch(resized_crop_batch(x, params, out), mean, std), params
