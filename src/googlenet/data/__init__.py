"""Datasets and transforms for training and evaluation, all offline.

Quick use::

    from googlenet.data import load_dataset, dataset_stats, train_transform, eval_transform

    stats = dataset_stats("fashion-mnist")           # channels 1, image_size 28, mean/std, classes
    test = load_dataset("fashion-mnist", "test",
                        transform=eval_transform(input_size=28, mean=stats.mean, std=stats.std, native_size=28))
    image, label = test[0]                             # float tensor (1, 28, 28), int
    test.classes                                       # ['T-shirt/top', 'Trouser', ...]

API:

* :func:`load_dataset(name, split, *, data_dir, transform, channels, val_fraction, split_seed,
  skip_bad_images, download) <load_dataset>` -> :class:`ImageDataset` of ``(image, label)``.
  ``name``: "fashion-mnist", "mnist" (IDX files, gz or not), "cifar10" (``cifar10-jpeg.tar.gz`` of
  ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``, read straight from the tarball; or that tree
  unpacked), "folder" with ``data_dir`` (or just a folder path) for an ImageFolder tree
  ``DIR/train/<class>/*``, optional ``DIR/val/<class>/*`` and ``DIR/test/<class>/*`` (or
  ``DIR/<class>/*`` for train only). ``split``: "train", "val", "test"; with no val split on disk,
  "val" is a fixed-seed ``val_fraction`` (default 0.1, seed 0) of train and "train" is the rest.
  Files are looked for in ``data_dir``, then ``$GOOGLENET_DATA``, then (Fashion-MNIST) Debian's
  /usr/share/datasets/fashion-mnist. Without ``transform`` an image is a plain uint8 tensor (C, H, W)
  with ``channels`` channels (default: the dataset's own); a transform receives it as a
  ``tv_tensors.Image`` and should end with ``v2.ToPureTensor()`` (ours do: a tv_tensor fed to a model
  sends every layer through ``__torch_function__``, many times slower).
  ``name`` "imagenette": ``imagenette-224.tar.gz`` (or an ``imagenette/`` folder) in ``data_dir`` /
  ``$GOOGLENET_DATA``, read in place; a path to any ``.tar.gz``/``.tgz``/``.tar`` of
  ``train/<class>/*`` (optionally ``val/``, ``test/``) works the same way. Class folders named by
  ImageNet wnids are shown by name (:func:`class_name_for`).
* :func:`dataset_names` lists every registered name; :func:`register_dataset` adds a format
  (data/registry.py, docs/CONTRIBUTING.md); :func:`small_image_datasets` the built-ins of small images.
* :func:`open_cache(dataset, size, *, cache_dir, max_bytes) <open_cache>` -> :class:`ImageStore`: the
  split decoded once, resized to ``size`` and kept as a uint8 memory-mapped file in ``$GOOGLENET_CACHE``
  (else ``$XDG_CACHE_HOME/googlenet`` or ``~/.cache/googlenet``: :func:`cache_root`, also where
  ``download=True`` puts (Fashion-)MNIST); ``store[rows]`` is a (B, C, S, S) uint8 batch (see data/cache.py).
* :mod:`~googlenet.data.augment`: :func:`sample_crops`, :func:`resized_crop_batch`,
  :func:`center_crop_batch`, :func:`normalize_batch` on whole uint8 batches;
  :class:`googlenet.training.fastdata.PhotoBatches` yields augmented batches from a store.
* :func:`dataset_stats(name) <dataset_stats>` -> :class:`DatasetStats`: ``channels``,
  ``image_size`` (native side; None for folders), ``mean``/``std`` (of the train pixels in [0, 1]),
  ``classes``; ``.preprocessing(input_size)`` is the :class:`PretrainedCfg` a model file trained on it records.
* :class:`PretrainedCfg`: what a model's weights expect of their input (input size, resize, mean, std,
  interpolation, channel order, scale), as timm's; every model file records one, ``model.pretrained_cfg``.
  :func:`create_transform(model | model file | record, training=False) <create_transform>`: a PIL image, a
  uint8 tensor or a path -> exactly the tensor ``googlenet predict`` feeds the network.
* :func:`decode_image(source, channels, name=) <decode_image>` / :func:`convert_image`: any image
  mode (grey, grey+alpha, palette, RGBA, CMYK, 1-bit, 16-bit) to 8-bit grey or RGB; a corrupt file
  raises :class:`~googlenet.errors.DataError` naming it. ``skip_bad_images=True`` leaves such files out
  and lists them in ``dataset.skipped``.
* :func:`train_transform(augment, ...) <train_transform>` ("paper", "small", "none") and
  :func:`eval_transform`: torchvision.transforms.v2 pipelines ending in normalization.
"""

from .archives import class_name_for
from .augment import center_crop_batch, normalize_batch, resized_crop_batch, sample_crops
from .cache import ImageStore, cache_root, decode_resized, open_cache
from .datasets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SPLITS,
    ArchiveImageDataset,
    DatasetStats,
    EncodedImageDataset,
    ImageDataset,
    TensorImageDataset,
    compute_mean_std,
    data_roots,
    holdout_split,
)
from .formats.idx import DEBIAN_FASHION_MNIST
from .images import IMAGE_EXTENSIONS, convert_image, decode_image
from .preprocessing import PretrainedCfg
from .registry import (
    DatasetSpec,
    canonical_name,
    dataset_names,
    dataset_stats,
    load_dataset,
    register_dataset,
    small_image_datasets,
)
from .transforms import AUGMENTATIONS, ImageTransform, create_transform, eval_transform, train_transform

__all__ = [
    "AUGMENTATIONS",
    "DEBIAN_FASHION_MNIST",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "ArchiveImageDataset",
    "DatasetSpec",
    "DatasetStats",
    "EncodedImageDataset",
    "ImageDataset",
    "ImageStore",
    "ImageTransform",
    "PretrainedCfg",
    "TensorImageDataset",
    "cache_root",
    "canonical_name",
    "center_crop_batch",
    "class_name_for",
    "compute_mean_std",
    "convert_image",
    "create_transform",
    "data_roots",
    "dataset_names",
    "dataset_stats",
    "decode_image",
    "decode_resized",
    "eval_transform",
    "holdout_split",
    "load_dataset",
    "normalize_batch",
    "open_cache",
    "register_dataset",
    "resized_crop_batch",
    "sample_crops",
    "small_image_datasets",
    "train_transform",
]
