"""Averaging softmax probabilities over crops and over models (GoogLeNet section 7).

"We independently trained 7 versions of the same GoogLeNet model ... and performed ensemble
prediction with them" and "the softmax probabilities are averaged over multiple crops and over all
the individual classifiers to obtain the final prediction." An :class:`Ensemble` does exactly that
for any number of model files, of any architectures, as long as they predict the same classes. Each
member keeps its own preprocessing (crop size, mean/std, channels); members that read the same crop
size share the crops, which are cut once per view.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from ..errors import UserError
from ..models.outputs import split_outputs
from ..weights.checkpoint import LoadedModel, load_model
from .crops import CropProtocol

#: Built-in datasets whose images all have the model's input size (their test images are not resized).
FIXED_SIZE_DATASETS = ("fashion-mnist", "mnist", "cifar10")


@dataclass
class Member:
    """One model of an ensemble with what it needs to read an image in [0, 1]."""

    model: nn.Module
    name: str
    num_classes: int
    class_names: list[str] | None
    crop_size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""
    preprocessing: dict = field(default_factory=dict)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, *, crop_size: int | None = None) -> Member:
        from ..models.registry import model_info

        pre = loaded.preprocessing or {}
        channels = int(pre.get("channels") or loaded.model_kwargs.get("in_channels", 3))
        size = crop_size or pre.get("input_size") or model_info(loaded.model_name).input_size
        mean = tuple(float(m) for m in pre.get("mean", [0.0] * channels))
        std = tuple(float(s) for s in pre.get("std", [1.0] * channels))
        if len(mean) == 1 and channels > 1:
            mean, std = mean * channels, std * channels
        loaded.model.eval()
        return cls(loaded.model, loaded.model_name, loaded.num_classes, loaded.class_names, int(size), channels,
                   mean, std, str(loaded.path or loaded.model_name), dict(pre))

    def default_scales(self, crops: int) -> tuple[int, ...] | None:
        """The 1- and 10-crop scale this model was tested at in training (``preprocessing["resize"]``):
        a 28x28 Fashion-MNIST model reads the whole image, not a 28 crop of it enlarged to 32. ``None``
        (the paper's scales, relative to the crop) for 144 crops, for a crop size other than the one
        trained, and for files written before the scale was recorded, unless their dataset is one of
        the fixed-size built-ins."""
        pre = self.preprocessing
        if crops == 144 or int(pre.get("input_size") or 0) != self.crop_size:
            return None
        resize = pre.get("resize")
        if resize is None and pre.get("dataset") in FIXED_SIZE_DATASETS:
            resize = self.crop_size
        return (int(resize),) if resize else None

    def prepare(self, crops: Tensor) -> Tensor:
        """Crops in [0, 1] with any channel count -> this model's channels, normalized."""
        if crops.shape[1] != self.channels:
            if self.channels == 1 and crops.shape[1] == 3:
                crops = TF.rgb_to_grayscale(crops)
            elif self.channels == 3 and crops.shape[1] == 1:
                crops = crops.expand(-1, 3, -1, -1)
            else:
                raise UserError(f"{self.source}: the model reads {self.channels}-channel images, got "
                                f"{crops.shape[1]}; convert the images to {self.channels} channels")
        # Weights imported from Caffe read BGR pixels in 0-255 (preprocessing "channel_order", "scale");
        # the mean and std are then in those units and that order. Files without the keys: RGB in [0, 1].
        if self.preprocessing.get("channel_order", "RGB") == "BGR" and crops.shape[1] == 3:
            crops = crops.flip(1)
        scale = float(self.preprocessing.get("scale", 1.0))
        if scale != 1.0:
            crops = crops * scale
        return TF.normalize(crops, list(self.mean), list(self.std))

    def logits(self, x: Tensor) -> Tensor:
        main, _ = split_outputs(self.model(x))
        return main


class Ensemble:
    """Models whose softmax outputs are averaged; one member is the plain single-model case."""

    def __init__(self, members: Sequence[Member | LoadedModel]) -> None:
        if not members:
            raise UserError("an ensemble needs at least one model; pass --checkpoint PATH (repeatable)")
        self.members = [m if isinstance(m, Member) else Member.from_loaded(m) for m in members]
        first = self.members[0]
        for other in self.members[1:]:
            if other.num_classes != first.num_classes:
                raise UserError(f"{other.source} predicts {other.num_classes} classes but {first.source} "
                                f"predicts {first.num_classes}; ensemble only models trained on the same classes")
            if first.class_names and other.class_names and other.class_names != first.class_names:
                raise UserError(f"{other.source} and {first.source} name their classes differently "
                                f"({other.class_names[:3]}... vs {first.class_names[:3]}...); ensemble only "
                                "models trained on the same dataset")

    @classmethod
    def load(cls, paths: Iterable[str | Path], *, crop_size: int | None = None,
             map_location: str | torch.device = "cpu") -> Ensemble:
        """Load every model file (or run folder) with :func:`googlenet.weights.checkpoint.load_model`."""
        paths = list(paths)
        if not paths:
            raise UserError("no checkpoint given; pass --checkpoint PATH (repeat it for an ensemble)")
        return cls([Member.from_loaded(load_model(p, map_location=map_location), crop_size=crop_size)
                    for p in paths])

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    @property
    def class_names(self) -> list[str]:
        names = next((m.class_names for m in self.members if m.class_names), None)
        return list(names) if names else [str(i) for i in range(self.num_classes)]

    @property
    def channels(self) -> int:
        return max(m.channels for m in self.members)

    def protocols(self, crops: int | CropProtocol, scales: Sequence[int] | None = None) -> list[CropProtocol]:
        """The crop protocol of each member (its own crop size; scales in proportion)."""
        if isinstance(crops, CropProtocol):
            return [crops for _ in self.members]
        return [CropProtocol(crops, m.crop_size, tuple(scales) if scales else m.default_scales(crops))
                for m in self.members]

    def cost(self, crops: int | CropProtocol, scales: Sequence[int] | None = None) -> int:
        """Forward passes per image: Table 3's "cost" (models x crops)."""
        return sum(p.num_crops for p in self.protocols(crops, scales))

    @torch.inference_mode()
    def member_probabilities(
        self, images: Tensor | Sequence[Tensor], crops: int | CropProtocol = 1, *,
        scales: Sequence[int] | None = None, crop_batch: int = 64, device: str | torch.device = "cpu",
    ) -> Tensor:
        """Crop-averaged softmax of every member: (members, N, classes).

        ``images``: a batch (N, C, H, W) or a list of (C, H, W) images of any sizes, float in [0, 1]
        or uint8. At most ``crop_batch`` crops (or one view of the batch, if larger) go through a
        model at once, which bounds memory whatever the number of crops.
        """
        batches = list(_same_size_batches(images))
        total = sum(b.shape[0] for b in batches)
        out = torch.zeros(len(self.members), total, self.num_classes)
        protocols = self.protocols(crops, scales)
        groups: dict[CropProtocol, list[int]] = {}
        for index, protocol in enumerate(protocols):
            groups.setdefault(protocol, []).append(index)
        for member in self.members:
            member.model.to(device)
        start = 0
        for batch in batches:
            n = batch.shape[0]
            batch = _as_float(batch).to(device)
            for protocol, indices in groups.items():
                for chunk in _chunks(protocol.weighted_views(batch), crop_batch):
                    weights = torch.tensor([w for _, w in chunk], dtype=torch.float, device=device)
                    x = torch.cat([view for view, _ in chunk], dim=0)
                    for i in indices:
                        member = self.members[i]
                        probs = F.softmax(member.logits(member.prepare(x)).float(), dim=1)
                        probs = probs.view(len(chunk), n, -1) * weights[:, None, None]
                        out[i, start:start + n] += probs.sum(0).cpu()
                for i in indices:
                    out[i, start:start + n] /= protocol.num_crops
            start += n
        return out

    def predict_proba(self, images: Tensor | Sequence[Tensor], crops: int | CropProtocol = 1, **kwargs) -> Tensor:
        """Softmax averaged over crops and members: (N, classes)."""
        return self.member_probabilities(images, crops, **kwargs).mean(0)


def _as_float(images: Tensor) -> Tensor:
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    if not images.is_floating_point():
        raise UserError(f"images must be float in [0, 1] or uint8, got {images.dtype}; convert with "
                        "torchvision.transforms.v2.ToDtype(torch.float32, scale=True)")
    return images.float()


def _same_size_batches(images: Tensor | Sequence[Tensor]) -> Iterator[Tensor]:
    """A batch tensor as is; a list of images grouped into runs of equal size."""
    if isinstance(images, Tensor):
        yield images.unsqueeze(0) if images.dim() == 3 else images
        return
    run: list[Tensor] = []
    for image in images:
        if image.dim() != 3:
            raise UserError(f"each image must be shaped (C, H, W), got {tuple(image.shape)}")
        if run and (image.shape != run[0].shape):
            yield torch.stack(run)
            run = []
        run.append(image)
    if run:
        yield torch.stack(run)


def _chunks(views: Iterator[tuple[Tensor, int]], crop_batch: int) -> Iterator[list[tuple[Tensor, int]]]:
    """Group consecutive (view, weight) pairs so that one forward pass sees about ``crop_batch`` crops."""
    chunk: list[tuple[Tensor, int]] = []
    size = 0
    for view, weight in views:
        if chunk and size + view.shape[0] > crop_batch:
            yield chunk
            chunk, size = [], 0
        chunk.append((view, weight))
        size += view.shape[0]
    if chunk:
        yield chunk
