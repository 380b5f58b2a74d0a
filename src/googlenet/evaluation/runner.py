"""``evaluate``: one or more model files on a dataset split, with the paper's crop protocols."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import UserError
from .crops import CropProtocol
from .ensemble import Ensemble
from .metrics import Metrics


@dataclass
class EvalResult:
    """Metrics of an ensemble on a dataset split, with how they were obtained."""

    metrics: Metrics
    dataset: str
    split: str
    crops: int
    cost: int  # forward passes per image: models x crops (Table 3's "cost")
    protocols: list[str]
    checkpoints: list[str]
    seconds: float
    probabilities: Tensor | None = field(default=None, repr=False)  # (members, N, classes)
    targets: Tensor | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "split": self.split, "checkpoints": self.checkpoints,
                "models": len(self.checkpoints), "crops": self.crops, "cost": self.cost,
                "protocols": self.protocols, "seconds": round(self.seconds, 3), **self.metrics.as_dict()}

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``metrics.json``, ``confusion.json`` and ``confusion.png`` into ``out_dir`` (atomically)."""
        from ..system.files import atomic_write_text
        from ..system.text import to_json

        out = Path(out_dir)
        m = self.metrics
        models, crops = len(self.checkpoints), self.crops
        title = (f"{self.dataset} {self.split}: {models} model{'s' * (models != 1)}, {crops} crop{'s' * (crops != 1)}"
                 f": top-1 {m.top1:.2f}%, top-5 {m.top5:.2f}%")
        return [atomic_write_text(out / "metrics.json", to_json(self.as_dict())),
                m.save_confusion_json(out / "confusion.json"), m.save_confusion_png(out / "confusion.png", title=title)]


def load_eval_dataset(ensemble: Ensemble, dataset: str | None, split: str, data_dir: str | Path | None):
    """The dataset split, as uint8 images with the ensemble's channels; checks it fits the models."""
    from ..data import load_dataset

    name = dataset or next((m.preprocessing.get("dataset") for m in ensemble.members
                            if m.preprocessing.get("dataset")), None)
    if not name:
        raise UserError("the checkpoint does not record its dataset; pass --dataset (e.g. fashion-mnist, cifar10)")
    data = load_dataset(name, split, data_dir=data_dir, channels=ensemble.channels)
    check_classes(ensemble, data.classes, name)
    return data


def check_classes(ensemble: Ensemble, classes: Sequence[str], dataset: str) -> None:
    """The models must predict the dataset's classes, in the same order."""
    for member in ensemble.members:
        if member.num_classes != len(classes):
            raise UserError(f"{member.source} predicts {member.num_classes} classes but {dataset} has "
                            f"{len(classes)}; pass a checkpoint trained on {dataset} or --dataset of the "
                            "checkpoint's training data")
        if member.class_names and list(member.class_names) != list(classes):
            raise UserError(f"{member.source} was trained on classes {member.class_names[:3]}... but {dataset} "
                            f"has {list(classes)[:3]}...; pass --dataset of the checkpoint's training data")


def dataset_probabilities(
    ensemble: Ensemble, data, crops: int | CropProtocol = 1, *, scales: Sequence[int] | None = None,
    batch_size: int = 64, crop_batch: int = 64, limit: int | None = None, device: str = "cpu",
    progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """Per-member crop-averaged probabilities (members, N, classes) and labels (N) on ``data``.

    ``limit`` takes the first ``limit`` images of the split (the split's own order, fixed).
    """
    n = len(data) if limit is None else min(limit, len(data))
    if n == 0:
        raise UserError("the dataset split is empty; check --split and --data-dir")
    indices = range(n)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="img", leave=False, desc=f"{ensemble.cost(crops, scales)} passes/img")
    probs, targets = [], []
    for start in range(0, n, batch_size):
        images, labels = [], []
        for i in indices[start:start + batch_size]:
            image, label = data[i]
            images.append(image.as_subclass(Tensor) if isinstance(image, Tensor) else torch.as_tensor(image))
            labels.append(label)
        probs.append(ensemble.member_probabilities(images, crops, scales=scales, crop_batch=crop_batch,
                                                   device=device))
        targets.append(torch.tensor(labels))
        if bar:
            bar.update(len(images))
    if bar:
        bar.close()
    return torch.cat(probs, dim=1), torch.cat(targets)


def evaluate(
    checkpoints: Sequence[str | Path] | Ensemble,
    dataset: str | None = None,
    *,
    split: str = "test",
    data_dir: str | Path | None = None,
    crops: int = 1,
    scales: Sequence[int] | None = None,
    crop_size: int | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    crop_batch: int = 64,
    device: str = "cpu",
    progress: bool = False,
) -> EvalResult:
    """Top-1/top-5, per-class accuracy and confusion matrix of one model or an ensemble.

    Args:
        checkpoints: model files or run folders (averaged at the softmax), or an :class:`Ensemble`.
        dataset: a name :func:`googlenet.data.load_dataset` knows; default the one the checkpoint records.
        crops: 1, 10 or 144 (section 7); ``scales`` overrides the test scales, ``crop_size`` the crop.
        limit: evaluate the first ``limit`` images only.
    """
    ensemble = checkpoints if isinstance(checkpoints, Ensemble) else Ensemble.load(checkpoints, crop_size=crop_size)
    data = load_eval_dataset(ensemble, dataset, split, data_dir)
    protocols = ensemble.protocols(crops, scales)
    started = time.perf_counter()
    probs, targets = dataset_probabilities(ensemble, data, crops, scales=scales, batch_size=batch_size,
                                           crop_batch=crop_batch, limit=limit, device=device, progress=progress)
    seconds = time.perf_counter() - started
    metrics = Metrics.from_probabilities(probs.mean(0), targets, list(data.classes))
    return EvalResult(metrics, data.name, split, crops, sum(p.num_crops for p in protocols),
                      [p.describe() for p in protocols], [m.source for m in ensemble.members], seconds,
                      probs, targets)
