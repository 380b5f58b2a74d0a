"""Top-k predictions for image files of any size and mode, with any crop protocol and ensemble.

Each file is decoded on its own (:func:`googlenet.data.convert_image` turns grey, RGBA, palette,
CMYK, 16-bit ... into what the model reads), so a file that cannot be read is reported with its
reason and the other files still run. A huge image is shrunk while decoding (JPEG draft mode,
then a fast reduce) to the largest test scale it will be resized to anyway, so memory stays bounded
by the protocol, not by the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from ..data.images import decode_image
from ..errors import DataError, UserError
from .crops import CropProtocol
from .ensemble import Ensemble


@dataclass
class Prediction:
    """The top-k classes of one image, or why it could not be read."""

    path: str
    classes: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) of the file
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.error:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "size": list(self.size) if self.size else None,
                "predictions": [{"class": c, "index": i, "probability": p}
                                for c, i, p in zip(self.classes, self.indices, self.probabilities, strict=True)]}


def find_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the image files inside folders (recursively, sorted).

    A path that does not exist is kept, so it is reported as unreadable beside the others.
    """
    from ..data import IMAGE_EXTENSIONS

    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not images:
                raise UserError(f"no images in folder {str(path)!r}; pass a folder holding "
                                f"{', '.join(IMAGE_EXTENSIONS[:4])}... files or the image files themselves")
            found += images
        else:
            found.append(path)
    if not found:
        raise UserError("no images given; pass image files or folders, e.g. googlenet predict photo.jpg -c model")
    return found


_PREDICT_HINTS = {"missing": "check the path", "corrupt": "pass an image file (JPEG, PNG, BMP, TIFF, WebP, GIF ...)"}


def load_image(path: str | Path, channels: int, *, max_short_side: int | None = None) -> tuple[Tensor, tuple[int, int]]:
    """Decode ``path`` to a uint8 tensor (channels, H, W) and its original (width, height).

    With ``max_short_side`` a larger image is shrunk (aspect kept) so its shorter side is that long.
    """
    img = decode_image(path, channels, draft_short_side=max_short_side, hints=_PREDICT_HINTS)
    size = img.info["original_size"]
    if max_short_side and min(img.size) > max_short_side:
        w, h = img.size
        scale = max_short_side / min(w, h)
        img = img.resize((max(max_short_side, round(w * scale)), max(max_short_side, round(h * scale))),
                         Image.Resampling.BILINEAR, reducing_gap=3.0)
    import numpy as np

    array = np.asarray(img, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy())
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    return tensor.contiguous(), size


def predict_files(
    ensemble: Ensemble,
    inputs: Sequence[str | Path],
    *,
    crops: int = 1,
    scales: Sequence[int] | None = None,
    top_k: int = 5,
    crop_batch: int = 64,
    device: str = "cpu",
) -> list[Prediction]:
    """Top-``top_k`` classes of every image in ``inputs`` (files or folders), in input order."""
    if top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {top_k}")
    paths = find_images(inputs)
    protocols: list[CropProtocol] = ensemble.protocols(crops, scales)
    largest = max(max(p.scales) for p in protocols)
    k = min(top_k, ensemble.num_classes)
    names = ensemble.class_names
    results = []
    for path in paths:
        try:
            image, size = load_image(path, ensemble.channels, max_short_side=largest)
        except DataError as exc:
            results.append(Prediction(str(path), error=str(exc)))
            continue
        probs = ensemble.predict_proba([image], crops, scales=scales, crop_batch=crop_batch, device=device)[0]
        top = probs.topk(k)
        results.append(Prediction(str(path), [names[i] for i in top.indices.tolist()], top.indices.tolist(),
                                  top.values.tolist(), size))
    return results
