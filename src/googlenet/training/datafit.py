"""The photos recipe's settings that follow from the data, not from constants tuned on Imagenette.

The recipe was decided on Imagenette (9,469 photos, 10 classes; docs/training.md#photos): batch 64 for 5 epochs
is about 740 optimizer steps, and its schedule and learning rate were tuned for that many. A photo set of a few
hundred photos would get a few dozen steps from the same constants and stop untrained; one of 100,000 would take
ten times the wall time for no better schedule. So the number of *steps* is what carries over: the batch shrinks
for small sets (so an epoch still has a few dozen steps and batch norm still sees a batch), the epochs follow the
steps, the input side never upsamples the typical photo, and warm-up keeps its share of the run.
Settings the user named (flags, config file) are left alone; the trainer prints what was chosen
(docs/training.md#fit-to-data).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch

#: The recipe's budget in optimizer steps: Imagenette's 9,469 photos at batch 64 for 5 epochs.
REFERENCE_STEPS = 740
#: Each recipe's budget in optimizer steps, where it was tuned: ``photos`` on Imagenette; ``fast`` (small
#: images) on Fashion-MNIST's 60,000 at batch 128 for 3 epochs. A user's set of small images gets the fast
#: recipe with its steps carried over the same way (36 steps of 1,600 32-px photos left it at chance).
RECIPE_STEPS = {"photos": REFERENCE_STEPS, "fast": 1406}
#: Fewest steps per epoch before the batch shrinks, and the smallest batch (batch norm's statistics).
MIN_STEPS_PER_EPOCH, MIN_BATCH = 40, 16
#: Epochs are kept within these bounds whatever the data size.
MIN_EPOCHS, MAX_EPOCHS = 2, 60
#: The smallest input side: GoogLeNet's five stride-2 stages leave a 2x2 map at 64 px (Table 1).
MIN_SIDE = 64
#: The settings this module may choose; any the user set stays as set.
FITTED = ("batch_size", "epochs", "input_size", "warmup_epochs")


@dataclass(frozen=True)
class DataFacts:
    """What the fit reads from a photo set: its size, its classes and its typical shorter side."""

    images: int
    classes: int
    median_side: int

    @staticmethod
    def measure(dataset, sample: int = 32) -> DataFacts:
        """The facts of ``dataset`` (an ImageDataset), decoding an evenly spaced sample of its images."""
        n = len(dataset)
        picks = sorted({int(i) for i in torch.linspace(0, n - 1, min(sample, n)).round().tolist()}) if n else []
        sides = [min(dataset[i][0].shape[-2:]) for i in picks]
        return DataFacts(images=n, classes=len(dataset.classes),
                         median_side=int(statistics.median(sides)) if sides else 0)


@dataclass(frozen=True)
class Fit:
    """The chosen settings, and the facts they came from."""

    batch_size: int
    epochs: int
    input_size: int
    warmup_epochs: float
    facts: DataFacts
    kept: tuple[str, ...] = ()  # settings the user named, left as they were

    def line(self) -> str:
        f = self.facts
        kept = f"; kept as you set them: {', '.join(self.kept)}" if self.kept else ""
        return (f"googlenet: fitted to the data ({f.images} photos, {f.classes} classes, median shorter side "
                f"{f.median_side} px): batch {self.batch_size}, {self.epochs} epochs "
                f"(~{self.epochs * (f.images // self.batch_size)} steps), {self.input_size} px, warm-up "
                f"{self.warmup_epochs:g} epochs{kept} (docs/training.md#fit-to-data)")


def fit(facts: DataFacts, *, batch_size: int, epochs: int, input_size: int, warmup_epochs: float,
        pinned: tuple[str, ...] = (), reference_steps: int = REFERENCE_STEPS) -> Fit:
    """The recipe's ``batch_size``/``epochs``/``input_size``/``warmup_epochs`` refitted to ``facts``.

    Imagenette gets the recipe's own values back (batch 64, 5 epochs, 128 px), so the fit changes nothing
    where the recipe was measured."""
    batch = batch_size
    if "batch_size" not in pinned and facts.images < batch_size * MIN_STEPS_PER_EPOCH:
        fits = max(1, facts.images // MIN_STEPS_PER_EPOCH)
        batch = max(MIN_BATCH, 2 ** int(math.log2(fits)))
        batch = min(batch, batch_size, max(1, facts.images // 2))
    steps_per_epoch = max(1, facts.images // batch)
    n_epochs = epochs if "epochs" in pinned else \
        min(MAX_EPOCHS, max(MIN_EPOCHS, round(reference_steps / steps_per_epoch)))
    side = input_size
    if "input_size" not in pinned and facts.median_side and facts.median_side < input_size:
        side = max(MIN_SIDE, facts.median_side // 16 * 16)  # never upsample the typical photo
    warmup = warmup_epochs if "warmup_epochs" in pinned else round(warmup_epochs * n_epochs / epochs, 3)
    return Fit(batch_size=batch, epochs=n_epochs, input_size=side, warmup_epochs=warmup, facts=facts,
               kept=tuple(k for k in FITTED if k in pinned))
