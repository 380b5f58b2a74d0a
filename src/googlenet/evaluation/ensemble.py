"""Averaging softmax probabilities over crops and over models (GoogLeNet section 7).

"We independently trained 7 versions of the same GoogLeNet model ... and performed ensemble
prediction with them" and "the softmax probabilities are averaged over multiple crops and over all
the individual classifiers to obtain the final prediction." An :class:`Ensemble` does exactly that
for any number of model files, of any architectures, as long as they predict the same classes. Each
member keeps its own preprocessing (crop size, mean/std, channels); members that read the same crop
size share the crops, which are cut once per view.

Each member runs its crops through a :class:`~googlenet.deploy.backends.Backend` of the backend registry (the
model as loaded, the fused model, ONNX Runtime, OpenVINO; fp32, bf16 or int8), built once per member and crop
size. A member may
also be an ``.onnx`` file written by ``googlenet export`` (its metadata holds the class names and the
preprocessing); it runs on ONNX Runtime.

Memory: ``crop_batch`` counts 224-px crops. A larger crop takes the memory of ``(size / 224)**2`` of them,
so a forward pass then reads fewer crops, and the images are resized and cut in groups no larger than one
forward pass: memory stays within the bound whatever the crop size and the number of crops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.preprocessing import PretrainedCfg
from ..data.registry import is_small_image_dataset
from ..errors import UserError
from ..models.outputs import split_outputs
from ..weights.checkpoint import LoadedModel, load_model
from .crops import CropProtocol

#: ``crop_batch`` is counted in crops of this side; larger crops count as ``(side / 224) ** 2`` of them.
REFERENCE_CROP_PIXELS = 224 * 224
#: A crop size outside [1/2, 2] x the trained input size gets a warning (accuracy and cost both suffer).
FAR_FROM_TRAINED = 2.0


def crops_per_pass(crop_batch: int, crop_size: int) -> int:
    """How many ``crop_size`` crops one forward pass may take: ``crop_batch`` up to 224 px, fewer above, so
    that the pixels (hence the activations) of a pass stay within those of ``crop_batch`` 224-px crops."""
    if isinstance(crop_batch, bool) or not isinstance(crop_batch, int) or crop_batch < 1:
        raise UserError(f"--crop-batch must be a whole number >= 1, got {crop_batch!r}; e.g. --crop-batch 64")
    return max(1, min(crop_batch, crop_batch * REFERENCE_CROP_PIXELS // (crop_size * crop_size)))


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
    #: The model file's record as it stands (``trained_size`` and ``default_scales`` read what it records).
    preprocessing: PretrainedCfg = field(default_factory=PretrainedCfg)
    #: A name of :mod:`googlenet.deploy.backends` (``eager``: the model as loaded); ``auto`` until built.
    backend: str = "eager"
    #: An exported ``.onnx`` file this member runs instead of ``model`` (``model`` is then None).
    onnx_path: Path | None = None
    #: Images (C, H, W) in [0, 1] or uint8 that calibrate int8 (cut and normalized like this member's input).
    calibration: list[Tensor] | None = field(default=None, repr=False)
    device: str = "cpu"
    requested: str | None = None  # the backend asked for (``auto`` may fall back to torch if export fails)
    #: Where int8 finds real photos to calibrate on when no ``calibration`` images are given.
    calibration_dir: str | Path | None = None
    #: Intra-op threads of ONNX Runtime and OpenVINO backends (None: PyTorch's count).
    threads: int | None = None
    _backends: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, *, crop_size: int | None = None) -> Member:
        from ..models.registry import model_info

        pre = PretrainedCfg.coerce(loaded.preprocessing)
        channels = int(pre.channels or loaded.model_kwargs.get("in_channels", 3))
        size = crop_size or pre.input_size or model_info(loaded.model_name).input_size
        full = pre.completed(input_size=int(size), channels=channels)
        loaded.model.eval()
        return cls(loaded.model, loaded.model_name, loaded.num_classes, loaded.class_names, int(size), channels,
                   full.mean, full.std, str(loaded.path or loaded.model_name), pre)

    @classmethod
    def from_onnx(cls, path: str | Path, *, crop_size: int | None = None) -> Member:
        """A member from an ``.onnx`` file of ``googlenet export`` (class names and preprocessing in its
        metadata). Its graph reads one crop size, the one it was exported at."""
        from ..deploy.export import read_export_metadata

        path = Path(path)
        meta = read_export_metadata(path, "onnx")
        pre = PretrainedCfg.from_dict(meta.get("preprocessing") or {}, where=f"{str(path)!r} preprocessing")
        size = int(pre.input_size or 224)
        if crop_size and crop_size != size:
            raise UserError(f"{path} was exported for {size}-px crops, not {crop_size}; drop --crop-size, or export "
                            f"the model file at {crop_size} px")
        channels = int(pre.channels or 3)
        names = meta.get("class_names")
        kwargs = meta.get("model_kwargs") or {}
        num_classes = len(names) if names else int(kwargs.get("num_classes", 1000))
        full = pre.completed(input_size=size, channels=channels)
        return cls(None, str(meta.get("model", path.stem)), num_classes, names, size, channels, full.mean, full.std,
                   str(path), pre, backend="ort", onnx_path=path)

    @property
    def trained_size(self) -> int | None:
        size = self.preprocessing.input_size
        return int(size) if size else None

    def crop_size_warning(self) -> str | None:
        """One line when the crop size is far (over 2x, under 1/2) from the size the model was trained at."""
        trained = self.trained_size
        if not trained or (self.crop_size <= FAR_FROM_TRAINED * trained and
                           self.crop_size * FAR_FROM_TRAINED >= trained):
            return None
        ratio = self.crop_size / trained
        return (f"{self.source}: crop size {self.crop_size} px is {ratio:.3g}x the {trained} px it was trained at: "
                f"expect lower accuracy, and {ratio * ratio:.3g}x the compute of a trained-size crop; "
                f"drop --crop-size to test at {trained} px")

    def use_backend(self, kind: str | None, *, device: str = "cpu", calibration: list[Tensor] | None = None,
                    data_dir: str | Path | None = None, threads: int | None = None) -> str:
        """Run this member on ``kind`` (checked here; ``auto`` measured when built); backends are built on first
        use."""
        from ..deploy.backends import resolve_backend

        resolved = resolve_backend(kind, device, onnx_file=self.onnx_path is not None)
        if (resolved, device) != (self.backend, self.device):
            self._backends.clear()
        self.backend, self.device, self.requested = resolved, device, kind
        if calibration is not None:
            self.calibration = list(calibration)
        if data_dir is not None:
            self.calibration_dir = data_dir
        if threads is not None:
            self.threads = threads
        return resolved

    def runner(self, crop_size: int):
        """The backend for ``crop_size`` crops, built once (``auto`` measured here, then named by its pick)."""
        backend = self._backends.get(crop_size)
        if backend is None:
            from ..deploy.backends import backend_spec, build_backend

            spec = backend_spec(self.backend)
            calibration = self.calibration_crops(crop_size, required=spec.calibrated) \
                if spec.calibrated or spec.name == "auto" else None
            if self.model is not None:
                self.model.to(self.device)
            backend = build_backend(self.backend, self.model, crop_size=crop_size, channels=self.channels,
                                    device=self.device, onnx_path=self.onnx_path, calibration=calibration,
                                    threads=self.threads)
            self.backend = backend.name
            self._backends[crop_size] = backend
        return backend

    def calibration_crops(self, crop_size: int, *, required: bool = True) -> Tensor | None:
        """Calibration input (int8, auto's measurement): the 1-crop test view of the calibration images,
        normalized for this model; without images, real photos from ``data/`` (None if there are none and they
        are not ``required``: auto then measures speed on noise and says so)."""
        from ..deploy.backends import CALIBRATION_IMAGES
        from ..errors import DataError

        images = self.calibration
        if not images:
            from ..data.calibration import calibration_photos

            try:
                x = calibration_photos(CALIBRATION_IMAGES, crop_size, data_dir=self.calibration_dir)
            except DataError:
                if required:
                    raise
                return None
            return self.prepare(x)
        protocol = CropProtocol(1, crop_size, self.default_scales(1) if crop_size == self.crop_size else None)
        views = [next(protocol.views(_as_float(batch))) for batch in _same_size_batches(images[:CALIBRATION_IMAGES])]
        return self.prepare(torch.cat(views))

    def default_scales(self, crops: int) -> tuple[int, ...] | None:
        """The 1- and 10-crop scale this model was tested at in training (the record's ``resize``):
        a 28x28 Fashion-MNIST model reads the whole image, not a 28 crop of it enlarged to 32. ``None``
        (the paper's scales, relative to the crop) for 144 crops, for a crop size other than the one
        trained, and for files written before the scale was recorded, unless their dataset is one of
        the fixed-size built-ins."""
        pre = self.preprocessing
        if crops == 144 or int(pre.input_size or 0) != self.crop_size:
            return None
        if pre.resize is None and not is_small_image_dataset(pre.dataset):
            return None
        return (pre.test_resize(self.crop_size),)

    def protocol(self, crops: int = 1, scales: Sequence[int] | None = None) -> CropProtocol:
        """This member's crop protocol: its crop size, the scales it was tested at (or ``scales``), its
        weights' interpolation."""
        return CropProtocol(crops, self.crop_size, tuple(scales) if scales else self.default_scales(crops),
                            self.preprocessing.interpolation)

    def prepare(self, crops: Tensor, *, inplace: bool = False) -> Tensor:
        """Crops in [0, 1] with any channel count -> this model's channels, normalized (in ``crops``' own
        memory when ``inplace`` and the channels match: no second crop-batch-sized buffer to fault in)."""
        # One normalization for every caller (PretrainedCfg.normalize): create_transform gives the same tensors.
        # Weights imported from Caffe read BGR pixels in 0-255 (the record's channel_order and scale).
        cfg = replace(self.preprocessing, channels=self.channels, mean=self.mean, std=self.std)
        try:
            return cfg.normalize(crops, inplace=inplace)
        except UserError as exc:
            raise UserError(f"{self.source}: {exc}") from None

    def logits(self, x: Tensor) -> Tensor:
        """Logits of normalized crops, on this member's backend."""
        if self.backend == "eager" and self.model is not None:
            main, _ = split_outputs(self.model(x))
            return main
        return self.runner(x.shape[-1])(x)


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
        return cls([Member.from_onnx(p, crop_size=crop_size) if str(p).lower().endswith(".onnx")
                    else Member.from_loaded(load_model(p, map_location=map_location), crop_size=crop_size)
                    for p in paths])

    def use_backend(self, kind: str | None, *, device: str = "cpu", calibration: Sequence[Tensor] | None = None,
                    data_dir: str | Path | None = None) -> list[str]:
        """Run every member on ``kind`` (a name of :mod:`googlenet.deploy.backends`; None: the model as loaded, or
        ONNX Runtime for an .onnx member). ``calibration``: images (C, H, W) that calibrate int8 and auto's
        measurement (default: real CIFAR-10 photos from ``data_dir`` or ``$GOOGLENET_DATA``). Returns each
        member's backend (``auto`` until built)."""
        return [m.use_backend(kind, device=device, calibration=list(calibration) if calibration else None,
                              data_dir=data_dir) for m in self.members]

    def build_backends(self, crops: int | CropProtocol = 1, scales: Sequence[int] | None = None) -> None:
        """Build each member's backend for its crop size now (ONNX export, int8 calibration), so that timing
        what follows measures inference only."""
        for member, protocol in zip(self.members, self.protocols(crops, scales), strict=True):
            if member.backend != "eager":
                member.runner(protocol.crop_size)

    @property
    def backends(self) -> list[str]:
        return [m.backend for m in self.members]

    def warnings(self) -> list[str]:
        """One line per member whose crop size is far from the size it was trained at."""
        return [w for w in (m.crop_size_warning() for m in self.members) if w]

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
        return [m.protocol(crops, scales) for m in self.members]

    def cost(self, crops: int | CropProtocol, scales: Sequence[int] | None = None) -> int:
        """Forward passes per image: Table 3's "cost" (models x crops)."""
        return sum(p.num_crops for p in self.protocols(crops, scales))

    @torch.inference_mode()
    def member_probabilities(
        self, images: Tensor | Sequence[Tensor], crops: int | CropProtocol = 1, *,
        scales: Sequence[int] | None = None, crop_batch: int = 64, device: str | torch.device = "cpu",
        progress: Callable[[int], None] | None = None,
    ) -> Tensor:
        """Crop-averaged softmax of every member: (members, N, classes).

        ``images``: a batch (N, C, H, W) or a list of (C, H, W) images of any sizes, float in [0, 1]
        or uint8. One forward pass reads at most ``crop_batch`` crops of 224 px, or as many larger crops
        as hold the same pixels (:func:`crops_per_pass`, at least one), and the images are resized and
        cut in groups no larger than a pass, which bounds memory whatever the number and size of crops.
        ``progress(n)`` is called after each forward pass with the crops it counted (a crop that stands
        for several coinciding ones counts as many, so the total is images x :meth:`cost`).
        """
        batches = list(_same_size_batches(images))
        total = sum(b.shape[0] for b in batches)
        out = torch.zeros(len(self.members), total, self.num_classes)
        protocols = self.protocols(crops, scales)
        groups: dict[CropProtocol, list[int]] = {}
        for index, protocol in enumerate(protocols):
            groups.setdefault(protocol, []).append(index)
        for member in self.members:
            if member.model is not None and member.backend == "eager":
                member.model.to(device)
        start, crops_buffer = 0, _CropBuffer()
        for batch in batches:
            n = batch.shape[0]
            for protocol, indices in groups.items():
                per_pass = crops_per_pass(crop_batch, protocol.crop_size)
                # Images in groups of at most one pass: a view of the group then fits in a pass, and the
                # resized copies (up to 352/224 of the crop side, and their mirror) stay proportionate to it.
                for offset in range(0, n, per_pass):
                    # uint8 images are resized and cut as uint8 and converted per pass: torchvision's uint8
                    # antialiased resize is faster than the float one (docs/training.md#data-costs).
                    group = _as_pixels(batch[offset:offset + per_pass]).to(device)
                    m, lo = group.shape[0], start + offset
                    for chunk in _chunks(protocol.weighted_views(group), per_pass):
                        weights = torch.tensor([w for _, w in chunk], dtype=torch.float, device=device)
                        x = crops_buffer.fill([view for view, _ in chunk])
                        for i in indices:
                            member = self.members[i]
                            # x is our buffer, not the caller's images: the last member may normalize it in place.
                            normalized = member.prepare(x, inplace=i == indices[-1])
                            probs = F.softmax(member.logits(normalized).float(), dim=1).to(device)
                            probs = probs.view(len(chunk), m, -1) * weights[:, None, None]
                            out[i, lo:lo + m] += probs.sum(0).cpu()
                        del x
                        if progress is not None:
                            progress(int(weights.sum().item()) * m * len(indices))
                for i in indices:
                    out[i, start:start + n] /= protocol.num_crops
            start += n
        return out

    def predict_proba(self, images: Tensor | Sequence[Tensor], crops: int | CropProtocol = 1, **kwargs) -> Tensor:
        """Softmax averaged over crops and members: (N, classes)."""
        return self.member_probabilities(images, crops, **kwargs).mean(0)


class _CropBuffer:
    """One float buffer for a pass's crop batches, refilled for every forward pass.

    Why: ``torch.cat(views).float() / 255`` makes three fresh crop-batch-sized tensors a pass, and the kernel
    faults in and zeroes their pages each time: 12 ms of a 144-ms int8 batch of 32 crops at 224 px, against
    1.5 ms to divide the uint8 views straight into a buffer that stays mapped (docs/performance.md, "The
    crops' buffer"). The division is the same one, so the floats are bit-identical."""

    def __init__(self) -> None:
        self._buffer: Tensor | None = None

    def fill(self, views: Sequence[Tensor]) -> Tensor:
        """``views`` (each (n, C, H, W), uint8 or float in [0, 1]) as one float batch in the buffer. The result
        is valid until the next ``fill``; the caller's tensors are never written."""
        n, shape, device = sum(v.shape[0] for v in views), tuple(views[0].shape[1:]), views[0].device
        b = self._buffer
        if b is None or tuple(b.shape[1:]) != shape or b.shape[0] < n or b.device != device:
            b = self._buffer = torch.empty((n, *shape), dtype=torch.float, device=device)
        out, start = b[:n], 0
        for view in views:
            part = out[start:start + view.shape[0]]
            if view.dtype == torch.uint8:
                torch.div(view, 255.0, out=part)
            else:
                part.copy_(_as_float(view))
            start += view.shape[0]
        return out


def _as_pixels(images: Tensor) -> Tensor:
    """uint8 images as they are; any other dtype as float in [0, 1] (the checks of :func:`_as_float`)."""
    return images if images.dtype == torch.uint8 else _as_float(images)


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
