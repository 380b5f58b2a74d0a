"""Batched augmentation. :class:`TensorBatches`: datasets held in memory (MNIST, Fashion-MNIST), the ``small`` recipe
(zero-pad, random crop, horizontal flip) applied to a whole batch at once with tensor indexing.

Per image, torchvision.transforms.v2 plus the per-sample seeding cost about as much CPU time as the
forward and backward pass of the width-1/8 GoogLeNet (docs/training.md, "Batched augmentation", has the
loader worker's CPU time against the training process's). This does the same operations -- v2.RandomCrop with
``padding=pad`` (zero fill) then v2.RandomHorizontalFlip -- for 128 images in one indexing op.

The random draws of epoch ``e`` come from a generator seeded by ``(seed, e)``, one per image index, so
as with :class:`~googlenet.training.trainer.SeededView` the augmentation of an image does not depend on
the number of processes or on interruptions.

:class:`PhotoBatches`: photo datasets (folders, tarballs) read from their decoded uint8 cache
(:mod:`googlenet.data.cache`), with random-resized crops and flips done on whole batches
(:mod:`googlenet.data.augment`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..data.augment import RandomCrops
from ..data.datasets import ImageDataset


class TensorBatches:
    def __init__(self, dataset: ImageDataset, *, augment: bool, pad: int, hflip: bool,
                 mean: Sequence[float], std: Sequence[float], seed: int) -> None:
        self.dataset, self.augment, self.pad, self.hflip, self.seed = dataset, augment, pad, hflip, seed
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        self._epoch: int | None = None

    @staticmethod
    def eligible(dataset: object, augment: str, input_size: int) -> bool:
        pixels = getattr(dataset, "pixels", None)  # the images held in memory (data/datasets.py)
        return (pixels is not None and augment in ("small", "none")
                and pixels.shape[-1] == input_size == pixels.shape[-2])

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
        x = ds.pixels[rows]  # (B, C0, H, W) uint8
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


class PhotoBatches:
    """Batches of a photo dataset read from its decoded cache (:func:`googlenet.data.cache.open_cache`).

    Training batches are random-resized crops + flips of the cached ``S x S`` images
    (:mod:`googlenet.data.augment`), evaluation batches their centre. As :class:`TensorBatches`, the
    crops of epoch ``e`` come from a generator seeded by ``(seed, e)``, drawn once per image position, so
    the same seed and epoch give the same batches whatever the batch size, the number of processes or
    where a resumed run starts. ``out_size`` may change between epochs (progressive resizing) without
    changing the crops drawn: they are boxes on the stored image.

    ``augment``: the :class:`~googlenet.data.augment.RandomCrops` training batches draw (True: its
    defaults); False: the centre ``crop`` of each image (default ``out_size``), resized to ``out_size``.
    ``batch(positions, epoch)`` has :class:`TensorBatches`'s interface (positions in ``dataset``);
    :meth:`epoch_batches` also does the shuffling and the rank's shard, as ``DistributedSampler`` does.
    """

    def __init__(self, dataset, store, *, out_size: int, augment: bool | RandomCrops, mean: Sequence[float],
                 std: Sequence[float], seed: int = 0, crop: int | None = None) -> None:
        if len(store) != len(dataset._targets):
            raise ValueError(f"the store holds {len(store)} images, the dataset's split {len(dataset._targets)}")
        self.dataset, self.store = dataset, store
        self.augment = augment is not False
        self.crops = augment if isinstance(augment, RandomCrops) else RandomCrops()
        self.crops.check()
        self.out_size, self.seed, self.crop = out_size, seed, crop
        self.mean, self.std = list(mean), list(std)
        self._epoch: int | None = None
        self._params = None

    @staticmethod
    def eligible(dataset: object) -> bool:
        return bool(getattr(dataset, "encoded", False))  # files or bytes to decode: what the cache holds

    def __len__(self) -> int:
        return len(self.dataset)

    def draws(self, epoch: int):
        """The crops (:class:`~googlenet.data.augment.CropParams`) of every position in epoch ``epoch``."""
        from ..data.augment import sample_crops

        if self._epoch != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._params = sample_crops(len(self.dataset), self.store.size, scale=self.crops.scale,
                                        ratio=self.crops.ratio, hflip=self.crops.hflip, generator=g)
            self._epoch = epoch
        return self._params

    def batch(self, positions: Sequence[int], epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        from ..data.augment import center_crop_batch, normalize_batch, resized_crop_batch

        ds = self.dataset
        pos = torch.as_tensor(positions, dtype=torch.long).reshape(-1)
        rows = ds.indices[pos]
        x = self.store[rows]  # (B, C, S, S) uint8, channels-last
        if self.augment:
            x = resized_crop_batch(x, self.draws(epoch)[pos], self.out_size)
        else:
            x = center_crop_batch(x, self.out_size, self.crop)
        return normalize_batch(x, self.mean, self.std), ds._targets[rows]

    def epoch_batches(self, epoch: int, batch_size: int, *, rank: int = 0, world_size: int = 1,
                      shuffle: bool | None = None, drop_last: bool = False, start: int = 0):
        """Yield this rank's ``(x, y)`` batches of epoch ``epoch``, from batch ``start`` on (resuming).

        The order is ``DistributedSampler``'s (seeded by ``seed + epoch``; shuffled when augmenting),
        so the ranks' shards are disjoint and together cover the split.
        """
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(len(self.dataset)), num_replicas=world_size, rank=rank,
                                     shuffle=self.augment if shuffle is None else shuffle, seed=self.seed,
                                     drop_last=drop_last)
        sampler.set_epoch(epoch)
        order = list(sampler)
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        for k in range(start * batch_size, stop, batch_size):
            yield self.batch(order[k:k + batch_size], epoch)
