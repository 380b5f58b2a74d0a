"""Accuracy figures from predicted probabilities: top-1/top-5, per class, confusion matrix.

Top-5 error is ILSVRC's ranking measure (GoogLeNet section 7): an image counts as correct when the
true class is among the five most probable. With fewer than five classes top-5 is top-k, k = classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import UserError
from ..system.files import atomic_write


@dataclass
class Metrics:
    """What ``googlenet eval`` reports. Accuracies and errors in percent."""

    top1: float
    top5: float
    num_images: int
    class_names: list[str]
    per_class: list[float]  # accuracy of each class, percent (nan for a class with no image)
    class_counts: list[int]
    confusion: list[list[int]]  # confusion[true][predicted]

    @property
    def top1_error(self) -> float:
        return 100.0 - self.top1

    @property
    def top5_error(self) -> float:
        return 100.0 - self.top5

    @classmethod
    def from_probabilities(cls, probs: Tensor, targets: Tensor, class_names: list[str] | None = None) -> Metrics:
        if probs.dim() != 2 or targets.dim() != 1 or probs.shape[0] != targets.shape[0]:
            raise UserError(f"probabilities {tuple(probs.shape)} and targets {tuple(targets.shape)} do not "
                            "match; pass (N, classes) probabilities and N integer labels")
        n, k = probs.shape
        if n == 0:
            raise UserError("no images to score; check the dataset split and --limit")
        targets = targets.long()
        if targets.min() < 0 or targets.max() >= k:
            raise UserError(f"labels run to {int(targets.max())} but the model predicts {k} classes; "
                            "evaluate on the dataset the model was trained on")
        ranked = probs.topk(min(5, k), dim=1).indices
        top1 = (ranked[:, 0] == targets).float().mean().item() * 100
        top5 = (ranked == targets[:, None]).any(1).float().mean().item() * 100
        confusion = torch.zeros(k, k, dtype=torch.long)
        confusion.index_put_((targets, ranked[:, 0]), torch.ones(n, dtype=torch.long), accumulate=True)
        counts = confusion.sum(1)
        per_class = (confusion.diag().float() / counts.clamp(min=1).float() * 100)
        per_class = torch.where(counts > 0, per_class, torch.full_like(per_class, float("nan")))
        names = list(class_names) if class_names else [str(i) for i in range(k)]
        return cls(top1, top5, n, names, per_class.tolist(), counts.tolist(), confusion.tolist())

    def as_dict(self) -> dict[str, Any]:
        return {
            "num_images": self.num_images,
            "top1_accuracy": self.top1, "top5_accuracy": self.top5,
            "top1_error": self.top1_error, "top5_error": self.top5_error,
            "per_class_accuracy": {n: (None if a != a else a) for n, a in zip(self.class_names, self.per_class,
                                                                              strict=True)},
            "class_counts": dict(zip(self.class_names, self.class_counts, strict=True)),
        }

    def save_confusion_json(self, path: str | Path) -> Path:
        data = {"class_names": self.class_names, "rows": "true class", "columns": "predicted class",
                "matrix": self.confusion}
        return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1)))

    def save_confusion_png(self, path: str | Path, *, title: str = "") -> Path:
        """A confusion matrix heat map, rows normalized to the true class, counts in the cells."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k = len(self.class_names)
        matrix = torch.tensor(self.confusion, dtype=torch.float)
        rates = matrix / matrix.sum(1, keepdim=True).clamp(min=1)
        side = max(4.0, min(0.45 * k + 2.5, 30.0))
        fig, ax = plt.subplots(figsize=(side, side * 0.9))
        image = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
        if k <= 40:
            ax.set_xticks(range(k), self.class_names, rotation=90, fontsize=10)
            ax.set_yticks(range(k), self.class_names, fontsize=10)
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    if matrix[i, j]:
                        ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=10,
                                color="white" if rates[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title or f"top-1 {self.top1:.2f}%  top-5 {self.top5:.2f}%  ({self.num_images} images)",
                     fontsize=10)
        fig.tight_layout()

        def write(tmp: Path) -> None:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".").lower() or "png", dpi=100)  # .svg for reports

        try:
            return atomic_write(path, write)
        finally:
            plt.close(fig)
