"""``evaluate``: one or more model files on a dataset split, with the paper's crop protocols."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import UserError
from .crops import CropProtocol
from .decode import decode_batch
from .ensemble import Ensemble, _same_size_batches
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
    backends: list[str] = field(default_factory=list)  # each member's backend (eager, torch, ort, int8)
    #: With int8: the same images on the fp32 backend, {"backend", "top1", "top5", "seconds"}.
    reference: dict[str, Any] | None = None

    @property
    def images_per_second(self) -> float:
        return self.metrics.num_images / self.seconds if self.seconds > 0 else float("nan")

    @property
    def top1_change(self) -> float | None:
        """Top-1 (percentage points) of this backend minus the fp32 reference's, when one was run."""
        return None if self.reference is None else self.metrics.top1 - self.reference["top1"]

    def as_dict(self) -> dict[str, Any]:
        out = {"dataset": self.dataset, "split": self.split, "checkpoints": self.checkpoints,
               "models": len(self.checkpoints), "backends": self.backends, "crops": self.crops, "cost": self.cost,
               "protocols": self.protocols, "seconds": round(self.seconds, 3),
               "images_per_s": round(self.images_per_second, 3),
               "crops_per_s": round(self.images_per_second * self.cost, 3), **self.metrics.as_dict()}
        if self.reference is not None:
            out["fp32_reference"] = self.reference
            out["top1_change_vs_fp32"] = round(self.top1_change, 4)
        return out

    #: What :meth:`save` writes into its folder.
    FILES = ("metrics.json", "confusion.json", "confusion.png")

    def save(self, out_dir: str | Path, *, force: bool = False) -> list[Path]:
        """Write ``metrics.json``, ``confusion.json`` and ``confusion.png`` into ``out_dir`` (atomically);
        files of those names already there are replaced only with ``force``."""
        from ..system.files import atomic_write_text, check_output_dir
        from ..system.text import to_json

        out = check_output_dir(out_dir, force=force, names=self.FILES)
        m = self.metrics
        models, crops = len(self.checkpoints), self.crops
        title = (f"{self.dataset} {self.split}: {models} model{'s' * (models != 1)}, {crops} crop{'s' * (crops != 1)}"
                 f": top-1 {m.top1:.2f}%, top-5 {m.top5:.2f}%")
        return [atomic_write_text(out / "metrics.json", to_json(self.as_dict())),
                m.save_confusion_json(out / "confusion.json"), m.save_confusion_png(out / "confusion.png", title=title)]


def load_eval_dataset(ensemble: Ensemble, dataset: str | None, split: str, data_dir: str | Path | None):
    """The dataset split, as uint8 images with the ensemble's channels; checks it fits the models."""
    from ..data import load_dataset

    name = dataset or next((m.preprocessing.dataset for m in ensemble.members if m.preprocessing.dataset), None)
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


@dataclass(frozen=True)
class PassOptions:
    """How :func:`dataset_probabilities` passes a split through an ensemble (its keywords, by name).

    ``limit`` takes the first ``limit`` images of the split (the split's own order, fixed). ``progress``
    shows a bar on stderr counting crops (forward passes), updated after every pass, so even a few images
    at a large crop size show how far they are. ``cache``: with one centre crop, read the split's views from
    the decoded cache a previous pass kept, or keep them for the next one (:class:`~googlenet.data.cache.ViewCache`).
    """

    scales: Sequence[int] | None = None
    batch_size: int = 64
    crop_batch: int = 64
    limit: int | None = None
    device: str = "cpu"
    progress: bool = False
    cache: bool = False


def dataset_probabilities(ensemble: Ensemble, data, crops: int | CropProtocol = 1,
                          **options: Any) -> tuple[Tensor, Tensor]:
    """Per-member crop-averaged probabilities (members, N, classes) and labels (N) on ``data``; ``options``
    are :class:`PassOptions`."""
    o = PassOptions(**options)
    scales, batch_size, crop_batch, limit, device = o.scales, o.batch_size, o.crop_batch, o.limit, o.device
    progress = o.progress
    n = len(data) if limit is None else min(limit, len(data))
    if n == 0:
        raise UserError("the dataset split is empty; check --split and --data-dir")
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    indices = range(n)
    bar = _progress_bar(n, ensemble.cost(crops, scales)) if progress else None
    early, crops = _centre_crops_early(ensemble, crops, scales)
    views = _view_cache(data, early) if o.cache and early is not None else None
    targets_of = data.targets if views is not None and views.ready else None

    def load(start: int) -> tuple[Tensor | list[Tensor], list[int]]:
        # Equal-sized views leave as one batch, stacked on this thread rather than the one running the passes.
        positions = list(indices[start:start + batch_size])
        if views is not None and views.ready:
            rows = [int(data.indices[i]) for i in positions]
            return views.read(rows), [int(targets_of[i]) for i in positions]
        images, labels = decode_batch(data, positions)
        if not early:
            return images, labels
        images = [_one_view(image, early) for image in images]
        if views is not None:
            views.write([int(data.indices[i]) for i in positions], images)
        runs = list(_same_size_batches(images))  # the grouping member_probabilities does, done here
        return (runs[0] if len(runs) == 1 else images), labels

    probs, targets = [], []
    # The next batch is decoded in a thread while this one runs: JPEG decoding and the convolutions release
    # the GIL, and only that thread reads ``data``, so a dataset need not be thread-safe.
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="googlenet-decode") as pool:
            try:
                starts = list(range(0, n, batch_size))
                pending = pool.submit(load, starts[0])
                for k in range(len(starts)):
                    images, labels = pending.result()
                    if k + 1 < len(starts):
                        pending = pool.submit(load, starts[k + 1])
                    probs.append(ensemble.member_probabilities(images, crops, scales=scales, crop_batch=crop_batch,
                                                               device=device, progress=bar.update if bar else None))
                    targets.append(torch.tensor(labels))
            finally:
                if bar:
                    bar.close()
        if views is not None:
            views.commit()  # kept only when every image of the split was written
    finally:
        if views is not None:
            views.discard()
    return torch.cat(probs, dim=1), torch.cat(targets)


def _progress_bar(n: int, cost: int):
    """A tqdm bar over the ``n * cost`` crops one pass computes."""
    from tqdm import tqdm

    return tqdm(total=n * cost, unit="crop", unit_scale=True, leave=False, dynamic_ncols=True,
                desc=f"{n:,} images x {cost} crops")


def _view_cache(data, protocol: CropProtocol):
    """The split's decoded views under ``protocol`` (one centre crop), or None where they cannot be kept."""
    import sys

    from ..data.cache import ViewCache

    def say(message: str) -> None:
        print(f"googlenet: {message}", file=sys.stderr, flush=True)  # stdout may be --json

    kind = f"eval-view {protocol.describe()} {protocol.interpolation}"
    return ViewCache.open(data, kind, protocol.crop_size, log=say)


def _centre_crops_early(ensemble: Ensemble, crops: int | CropProtocol,
                        scales: Sequence[int] | None) -> tuple[CropProtocol | None, int | CropProtocol]:
    """With one centre crop for every member (``--crops 1``, one crop size), that crop is cut in the decode
    thread, beside the forward pass of the batch before, and the pass reads it as it is: the same pixels
    (each image is resized on its own either way), the resize off the critical path."""
    protocols = set(ensemble.protocols(crops, scales))
    if len(protocols) != 1:
        return None, crops
    (protocol,) = protocols
    if protocol.crops != 1:
        return None, crops
    return protocol, CropProtocol(1, protocol.crop_size, (protocol.crop_size,), protocol.interpolation)


def _one_view(image: Tensor, protocol: CropProtocol) -> Tensor:
    (view, _), = protocol.weighted_views(image)
    return view[0]


def calibration_images(data, count: int | None = None) -> list[Tensor]:
    """The first ``count`` images of the split, which calibrate int8 (and auto's measurement) on the data it is
    evaluated on."""
    from ..deploy.backends import CALIBRATION_IMAGES

    count = min(count or CALIBRATION_IMAGES, len(data))
    out = []
    for i in range(count):
        image = data[i][0]
        out.append(image.as_subclass(Tensor) if isinstance(image, Tensor) else torch.as_tensor(image))
    return out


@dataclass
class EvalOptions:
    """How :func:`evaluate` reads the split and runs the models (every field is also a keyword of it)."""

    split: str = "test"
    data_dir: str | Path | None = None
    #: 1, 10 or 144 (section 7); ``scales`` overrides the test scales, ``crop_size`` the crop.
    crops: int = 1
    scales: Sequence[int] | None = None
    crop_size: int | None = None
    #: Evaluate the first ``limit`` images only.
    limit: int | None = None
    batch_size: int = 64
    crop_batch: int = 64
    device: str = "cpu"
    progress: bool = False
    #: A name of :mod:`googlenet.deploy.backends` (``auto``, ``torch``, ``ort``, ``openvino-int8``...); None: the
    #: models as loaded. Calibrated backends (and auto's measurement) use the first images of the split.
    backend: str | None = None
    #: With an int8 or bf16 backend, also run its fp32 counterpart on the same images and record its top-1 and
    #: top-5 in ``reference`` (the accuracy change the precision costs).
    compare: bool = True
    #: With one centre crop, keep the split's decoded views in ``$GOOGLENET_CACHE`` after the first pass and read
    #: them in the next (the reference run above, another backend, another day): a photo set is decoded once.
    cache: bool = True

    def with_changes(self, **changes: Any) -> EvalOptions:
        from dataclasses import fields, replace

        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise UserError(f"evaluate() has no option {unknown[0]!r}; the options are the fields of EvalOptions")
        return replace(self, **changes)

    def pass_options(self) -> dict[str, Any]:
        """The keywords of :func:`dataset_probabilities`."""
        return dict(scales=self.scales, batch_size=self.batch_size, crop_batch=self.crop_batch, limit=self.limit,
                    device=self.device, progress=self.progress, cache=self.cache)


def _timed_probabilities(ensemble: Ensemble, data, opts: EvalOptions) -> tuple[Tensor, Tensor, float]:
    """:func:`dataset_probabilities` timed. When no member runs on PyTorch (ONNX Runtime, OpenVINO), PyTorch's own
    work between the passes (resize, crop, normalize, softmax) runs on one thread: its OpenMP team would otherwise
    spin against the backend's pool for the same cores after every pass (docs/performance.md "Eval beside the
    bench")."""
    from ..deploy.backends import backend_spec
    from ..system.threads import torch_threads

    off_torch = torch.device(opts.device).type == "cpu" and all(backend_spec(k).engine != "torch"
                                                                for k in ensemble.backends)
    with torch_threads(1 if off_torch else None):
        started = time.perf_counter()
        probs, targets = dataset_probabilities(ensemble, data, opts.crops, **opts.pass_options())
        return probs, targets, time.perf_counter() - started


def _reference_run(ensemble: Ensemble, data, targets: Tensor, opts: EvalOptions) -> dict[str, Any] | None:
    """The fp32 counterpart of a reduced-precision backend on the same images: its top-1, top-5 and time."""
    from ..deploy.backends import backend_spec

    reference = backend_spec(opts.backend).fp32_reference if opts.backend and opts.compare else None
    if reference is None:
        return None
    ensemble.use_backend(reference, device=opts.device)
    ensemble.build_backends(opts.crops, opts.scales)
    fp32 = ensemble.backends
    ref_probs, _, seconds = _timed_probabilities(ensemble, data, opts)
    ref = Metrics.from_probabilities(ref_probs.mean(0), targets, list(data.classes))
    ensemble.use_backend(opts.backend, device=opts.device)
    return {"backend": ",".join(dict.fromkeys(fp32)), "top1": ref.top1, "top5": ref.top5,
            "seconds": round(seconds, 3)}


def evaluate(checkpoints: Sequence[str | Path] | Ensemble, dataset: str | None = None,
             options: EvalOptions | None = None, **changes: Any) -> EvalResult:
    """Top-1/top-5, per-class accuracy and confusion matrix of one model or an ensemble.

    Args:
        checkpoints: model files, run folders or ``.onnx`` exports (averaged at the softmax), or an
            :class:`Ensemble`.
        dataset: a name :func:`googlenet.data.load_dataset` knows; default the one the checkpoint records.
        options: an :class:`EvalOptions`; ``changes`` override its fields, e.g.
            ``evaluate(paths, "imagenette", split="val", crops=10, backend="openvino")``.
    """
    from ..deploy.backends import backend_spec

    opts = (options or EvalOptions()).with_changes(**changes)
    ensemble = checkpoints if isinstance(checkpoints, Ensemble) else Ensemble.load(checkpoints,
                                                                                  crop_size=opts.crop_size)
    data = load_eval_dataset(ensemble, dataset, opts.split, opts.data_dir)
    protocols = ensemble.protocols(opts.crops, opts.scales)
    spec = backend_spec(opts.backend) if opts.backend else None
    calibrate = spec is not None and (spec.calibrated or spec.name == "auto")
    ensemble.use_backend(opts.backend, device=opts.device, calibration=calibration_images(data) if calibrate else None)
    ensemble.build_backends(opts.crops, opts.scales)
    kinds = ensemble.backends  # after building: the backend auto picked
    data[0]  # opens the files (an archive's index) before the clock starts, as building the backends did
    probs, targets, seconds = _timed_probabilities(ensemble, data, opts)
    metrics = Metrics.from_probabilities(probs.mean(0), targets, list(data.classes))
    reference = _reference_run(ensemble, data, targets, opts)
    return EvalResult(metrics, data.name, opts.split, opts.crops, sum(p.num_crops for p in protocols),
                      [p.describe() for p in protocols], [m.source for m in ensemble.members], seconds,
                      probs, targets, kinds, reference)
