"""Batched augmentation for datasets held in memory (MNIST, Fashion-MNIST): the ``small`` recipe
(zero-pad, random crop, horizontal flip) applied to a whole batch at once with tensor indexing.

Per image, torchvision.transforms.v2 plus the per-sample seeding cost about as much CPU time as the
forward and backward pass of the width-1/8 GoogLeNet (measured: a loader worker used 39 s of CPU while
the training process used 56 s; docs/training.md). This does the same operations -- v2.RandomCrop with
``padding=pad`` (zero fill) then v2.RandomHorizontalFlip -- for 128 images in one indexing op.

The random draws of epoch ``e`` come from a generator seeded by ``(seed, e)``, one per image index, so
as with :class:`~googlenet.training.trainer.SeededView` the augmentation of an image does not depend on
the number of processes or on interruptions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..data.datasets import TensorImageDataset


class TensorBatches:
    def __init__(self, dataset: TensorImageDataset, *, augment: bool, pad: int, hflip: bool,
                 mean: Sequence[float], std: Sequence[float], seed: int) -> None:
        self.dataset, self.augment, self.pad, self.hflip, self.seed = dataset, augment, pad, hflip, seed
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        self._epoch: int | None = None

    @staticmethod
    def eligible(dataset: object, augment: str, input_size: int) -> bool:
        return (isinstance(dataset, TensorImageDataset) and augment in ("small", "none")
                and dataset.images.shape[-1] == input_size == dataset.images.shape[-2])

    def _draws(self, epoch: int) -> None:
        if self._epoch == epoch:
            return
        n = len(self.dataset)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        span = 2 * self.pad + 1
        self.dy = torch.randint(0, span, (n,), generator=g)
        self.dx = torch.randint(0, span, (n,), generator=g)
        self.flip = torch.rand(n, generator=g) < 0.5
        self._epoch = epoch

    def batch(self, positions: Sequence[int], epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        ds = self.dataset
        pos = torch.as_tensor(positions, dtype=torch.long)
        rows = ds.indices[pos]
        x = ds.images[rows]  # (B, C0, H, W) uint8
        if x.shape[1] != ds.channels:
            x = x.expand(-1, ds.channels, -1, -1)
        y = ds._targets[rows]
        if self.augment:
            self._draws(epoch)
            b, _, h, w = x.shape
            if self.pad:
                xp = F.pad(x, (self.pad,) * 4)  # zero fill, as v2.RandomCrop(padding=pad)
                r = self.dy[pos][:, None] + torch.arange(h)  # (B, H)
                c = self.dx[pos][:, None] + torch.arange(w)  # (B, W)
                x = xp[torch.arange(b)[:, None, None], :, r[:, :, None], c[:, None, :]].permute(0, 3, 1, 2)
            if self.hflip:
                x = torch.where(self.flip[pos].view(-1, 1, 1, 1), x.flip(-1), x)
        x = (x.float() / 255.0 - self.mean) / self.std
        return x.contiguous(), y
