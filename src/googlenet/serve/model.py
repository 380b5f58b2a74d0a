"""The served model: a model file (or run folder, or .onnx export) read exactly as ``googlenet predict`` reads
it, on one backend, with the CAM / Grad-CAM that ``googlenet explain`` draws.

An upload goes the way of a file through ``googlenet predict`` (one crop): decoded by
:func:`googlenet.evaluation.predict.load_image` (any mode; a large JPEG decoded at a reduced scale, then
shrunk to the test scale), resized so its shorter side is the model file's test scale and centre-cropped
(:class:`~googlenet.evaluation.crops.CropProtocol`), then the model file's own channels and mean/std
(:meth:`~googlenet.evaluation.ensemble.Member.prepare`). So the server's probabilities are predict's.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DataError, UserError
from . import backend as backends
from .uploads import IMAGE_FORMATS_HINT, ServeError, check_image_header

#: The overlay is drawn at least this many pixels wide, so a 32-px model's map is still visible on a page.
MIN_OVERLAY_SIDE = 224


@dataclass
class Prepared:
    """One decoded upload: the normalized crop the model reads, the crop as shown, the file's size."""

    name: str
    input: Tensor  # (C, s, s) float32, normalized
    display: Tensor  # (C, s, s) float32 in [0, 1]
    size: tuple[int, int]  # (width, height) of the upload


@dataclass
class Explained:
    png: bytes
    method: str  # "cam" or "gradcam"
    layer: str | None
    classes: list[str]
    indices: list[int]
    probabilities: list[float]


def file_version(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256: two servers answer with the same version exactly when
    they serve the same weights."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


class ServedModel:
    """What the server runs: ``prepare`` (any thread), ``infer`` (one thread at a time), ``explain``."""

    def __init__(self, member, runner, backend_name: str, path: Path) -> None:

        self.member = member
        self.runner = runner
        self.backend = backend_name
        self.path = path
        self.version = file_version(path)
        self.protocol = member.protocol(1)
        self.largest = max(self.protocol.scales)
        self.class_names = list(member.class_names or [str(i) for i in range(member.num_classes)])
        self._explain_lock = threading.Lock()
        self.explain_method = self._explain_method()

    @classmethod
    def load(cls, path: str | Path, *, backend: str = "auto", threads: int | None = None,
             data_dir: str | Path | None = None) -> ServedModel:
        """Load ``path`` (a model file, run folder or ``.onnx`` export) and build its backend."""
        from ..evaluation.ensemble import Member
        from ..weights.checkpoint import load_model, resolve_model_path

        backends.check(backend)
        if str(path).lower().endswith(".onnx"):
            member = Member.from_onnx(path)
            file = Path(path)
        else:
            file = resolve_model_path(path)
            member = Member.from_loaded(load_model(file))
        runner, name = backends.build(member, backend, threads=threads, data_dir=data_dir)
        return cls(member, runner, name, file)

    @property
    def name(self) -> str:
        return self.member.name

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "file": self.path.name, "backend": self.backend,
                "classes": self.num_classes, "input_size": self.member.crop_size, "explain": self.explain_method}

    # ------------------------------------------------------------------------------------------- input

    def prepare(self, data: bytes, name: str, *, max_pixels: int, min_side: int) -> Prepared:
        """An upload's bytes as the model's 1-crop test view (the steps of ``googlenet predict``)."""
        from ..evaluation.predict import load_image

        size = check_image_header(data, name, max_pixels=max_pixels, min_side=min_side)
        try:
            image, size = load_image(data, self.member.channels, max_short_side=self.largest)
        except DataError as exc:
            reason = str(exc).split("(", 1)[-1].split(")")[0] if "(" in str(exc) else str(exc)
            raise ServeError(415, "not_an_image", f"{name!r} cannot be decoded ({reason[:120]}); "
                             f"{IMAGE_FORMATS_HINT}") from None
        view = next(self.protocol.views(image.unsqueeze(0))).float() / 255.0
        return Prepared(name, self.member.prepare(view)[0], view[0], tuple(size))

    # ----------------------------------------------------------------------------------------- predict

    def infer(self, batch: Tensor) -> Tensor:
        """Softmax probabilities (N, classes) of normalized crops (N, C, s, s)."""
        with torch.inference_mode():
            return F.softmax(self.runner(batch).float(), dim=1)

    def warm_up(self, max_batch: int) -> None:
        """One pass at batch 1 and one at ``max_batch``: ONNX Runtime and oneDNN pick their kernels and grow
        their arenas on the first call of a shape, which should not land on a client."""
        c, s = self.member.channels, self.member.crop_size
        for n in sorted({1, max_batch}):
            self.infer(torch.zeros(n, c, s, s))

    # ----------------------------------------------------------------------------------------- explain

    def _explain_method(self) -> str | None:
        """``cam`` where it is exact (global average pooling + one linear layer), else ``gradcam``; None for an
        .onnx export (no feature maps to read)."""
        from ..visualize.cam import class_activation_map

        model = self.member.model
        if model is None:
            return None
        x = torch.zeros(1, self.member.channels, self.member.crop_size, self.member.crop_size)
        try:
            class_activation_map(model, x)
        except UserError:
            return "gradcam"
        return "cam"

    def explain(self, prepared: Prepared, *, class_index: int | None = None, top_k: int = 5) -> Explained:
        """The map of ``class_index`` (default the top class) over the crop the model read, as a PNG, with the
        top-k classes of the model as loaded."""
        from ..visualize.cam import class_activation_map, gradcam_map

        if self.explain_method is None:
            raise ServeError(409, "explain_unavailable", f"{self.path.name} is an ONNX export, which holds no "
                             "feature maps for CAM; serve the .safetensors model file it was exported from")
        if class_index is not None and not 0 <= class_index < self.num_classes:
            raise ServeError(422, "bad_parameter", f"class_index {class_index} is out of range; the model has "
                             f"{self.num_classes} classes (0-{self.num_classes - 1})")
        x = prepared.input.unsqueeze(0)
        model = self.member.model
        classes = None if class_index is None else [class_index]
        with self._explain_lock:  # Grad-CAM hooks the shared module; one explanation at a time
            if self.explain_method == "cam":
                maps, logits, index = class_activation_map(model, x, classes, top_k=1)
                layer = None
            else:
                maps, logits, index, layer = gradcam_map(model, x, classes, top_k=1)
        probs = F.softmax(logits.float(), dim=1)[0]
        top = probs.topk(min(top_k, self.num_classes))
        shown = int(index[0, 0])
        png = overlay_png(prepared.display, maps[0, 0].detach().cpu().numpy())
        order = [shown] + [i for i in top.indices.tolist() if i != shown][:top_k - 1]
        return Explained(png, self.explain_method, layer, [self.class_names[i] for i in order], order,
                         [float(probs[i]) for i in order])


def overlay_png(image: Tensor, heat: np.ndarray, *, alpha: float = 0.5) -> bytes:
    """The map (in [0, 1], the crop's H x W) in jet colours laid over the crop, as PNG bytes, in memory."""
    from matplotlib import colormaps
    from PIL import Image

    picture = image.detach().cpu().float().clamp(0, 1).numpy()
    picture = np.repeat(picture, 3, axis=0) if picture.shape[0] == 1 else picture
    picture = picture.transpose(1, 2, 0)
    colours = colormaps["jet"](np.clip(heat, 0, 1))[..., :3]
    blended = (1 - alpha) * picture + alpha * colours
    out = Image.fromarray(np.round(blended * 255).astype(np.uint8), "RGB")
    if max(out.size) < MIN_OVERLAY_SIDE:
        scale = -(-MIN_OVERLAY_SIDE // max(out.size))
        out = out.resize((out.width * scale, out.height * scale), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()
