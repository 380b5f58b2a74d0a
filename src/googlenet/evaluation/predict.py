"""Top-k predictions for image files of any size and mode, with any crop protocol and ensemble.

Each file is decoded on its own (:func:`googlenet.data.convert_image` turns grey, RGBA, palette,
CMYK, 16-bit ... into what the model reads), so a file that cannot be read is reported with its
reason and the other files still run. A huge image is shrunk while decoding (JPEG draft mode,
then a fast reduce) to the largest test scale it will be resized to anyway, so memory stays bounded
by the protocol, not by the file.

Inputs are scanned with :func:`scan_inputs`: a missing or broken file, an empty folder or a symbolic link
loop inside a folder becomes one entry that says so, beside the images that run. Nothing aborts the rest.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from ..data.images import decode_image, image_tensor
from ..errors import DataError, UserError
from .ensemble import Ensemble


@dataclass
class Prediction:
    """The top-k classes of one image, or why it could not be read."""

    path: str
    classes: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) of the file
    error: str | None = None  # the input could not be classified (exit code 2)
    note: str | None = None  # not an image and skipped, e.g. a symbolic link loop in a folder

    def as_dict(self) -> dict[str, Any]:
        if self.error:
            return {"path": self.path, "error": self.error}
        if self.note:
            return {"path": self.path, "note": self.note}
        return {"path": self.path, "size": list(self.size) if self.size else None,
                "predictions": [{"class": c, "index": i, "probability": p}
                                for c, i, p in zip(self.classes, self.indices, self.probabilities, strict=True)]}


@dataclass
class InputProblem:
    """An input that is not an image to classify: ``fatal`` ones fail the command (exit 2), others are notes."""

    path: str
    message: str
    fatal: bool = True


def scan_inputs(inputs: Iterable[str | Path]) -> list[Path | InputProblem]:
    """Files as given, and the image files inside folders (recursively, sorted), in input order, with an
    :class:`InputProblem` where an input cannot give images: an empty folder, a symbolic link loop or a
    broken link inside a folder. A file path that does not exist is kept, so that it is reported as unreadable
    beside the others. Symbolic links to folders are followed, each real folder listed once."""
    from ..data import IMAGE_EXTENSIONS

    found: list[Path | InputProblem] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            entries = _scan_folder(path, IMAGE_EXTENSIONS)
            if not any(isinstance(e, Path) for e in entries):
                entries.append(InputProblem(str(path), f"no images in folder {str(path)!r}; pass a folder holding "
                                                      f"{', '.join(IMAGE_EXTENSIONS[:4])}... files or the image "
                                                      "files themselves"))
            found += entries
        elif path.exists() and not path.is_file():
            # A FIFO or a device: opening it would block or read forever.
            found.append(InputProblem(str(path), f"{str(path)!r} is not a regular file; pass an image file"))
        else:
            found.append(path)
    return found


def _scan_folder(folder: Path, extensions: Sequence[str]) -> list[Path | InputProblem]:
    images: list[Path] = []
    problems: list[InputProblem] = []
    visited = {os.path.realpath(folder)}

    def loop(path: Path, why: str) -> None:
        problems.append(InputProblem(str(path), f"{str(path)!r} is a symbolic link loop ({why}); skipped it",
                                     fatal=False))

    def unreadable(exc: OSError) -> None:
        problems.append(InputProblem(str(exc.filename), f"cannot read folder {str(exc.filename)!r} "
                                                        f"({exc.strerror}); check its permissions"))

    for root, dirs, files in os.walk(folder, followlinks=True, onerror=unreadable):
        keep = []
        for name in sorted(dirs):
            full = Path(root) / name
            real = os.path.realpath(full)
            if full.is_symlink() and (real in visited or os.path.realpath(root).startswith(real + os.sep)):
                target = os.readlink(full)
                loop(full, f"-> {target}, a folder already listed") if real in visited else loop(full, f"-> {target}")
                continue
            visited.add(real)
            keep.append(name)
        dirs[:] = keep  # os.walk descends only into these
        for name in sorted(files):
            full = Path(root) / name
            try:
                full.stat()
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    loop(full, f"-> {os.readlink(full)}")
                elif full.suffix.lower() in extensions:
                    problems.append(InputProblem(str(full), f"{str(full)!r} is a broken symbolic link (-> "
                                                            f"{os.readlink(full)}); fix or remove the link"))
                continue
            if full.suffix.lower() in extensions and full.is_file():
                images.append(full)
    return sorted([*images, *problems], key=lambda e: str(e) if isinstance(e, Path) else e.path)


def find_images(inputs: Iterable[str | Path], problems: list[InputProblem] | None = None) -> list[Path]:
    """The image files of :func:`scan_inputs`; its problems go to ``problems`` (when given) or, if no image
    is left at all, raise the first as a UserError."""
    entries = scan_inputs(inputs)
    found = [e for e in entries if isinstance(e, Path)]
    issues = [e for e in entries if isinstance(e, InputProblem)]
    if problems is not None:
        problems += issues
    if not found:
        fatal = next((e for e in issues if e.fatal), None)
        if fatal:
            raise UserError(fatal.message)
        raise UserError("no images given; pass image files or folders, e.g. googlenet predict photo.jpg -c model")
    return found


_PREDICT_HINTS = {"missing": "check the path", "corrupt": "pass an image file (JPEG, PNG, BMP, TIFF, WebP, GIF ...)"}


def load_image(path: str | Path, channels: int, *, max_short_side: int | None = None) -> tuple[Tensor, tuple[int, int]]:
    """Decode ``path`` to a uint8 tensor (channels, H, W) and its original (width, height).

    With ``max_short_side`` a larger image is shrunk (aspect kept) so its shorter side is that long.
    """
    img = decode_image(path, channels, draft_short_side=max_short_side, hints=_PREDICT_HINTS)
    return image_tensor(img, max_short_side=max_short_side), img.info["original_size"]


@dataclass(frozen=True)
class PredictOptions:
    """:func:`predict_files`' settings, by name: the crop protocol (``crops``, ``scales``), how many classes each
    result lists, the crops per forward pass, the device, and a progress bar of images on stderr."""

    crops: int = 1
    scales: Sequence[int] | None = None
    top_k: int = 5
    crop_batch: int = 64
    device: str = "cpu"
    progress: bool = False


def predict_files(ensemble: Ensemble, inputs: Sequence[str | Path], *,
                  on_result: Callable[[Prediction], None] | None = None, **options: Any) -> list[Prediction]:
    """Top-``top_k`` classes of every image in ``inputs`` (files or folders), in input order; ``options`` are
    :class:`PredictOptions`.

    An input that cannot be read (missing, not an image, an empty folder) gives a :class:`Prediction` with
    ``error``; a symbolic link loop in a folder one with ``note``; every other input still runs. ``on_result``
    is called with each result as soon as it is known.
    """
    o = PredictOptions(**options)
    if o.top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {o.top_k}")
    entries = scan_inputs(inputs)
    if not entries:
        raise UserError("no images given; pass image files or folders, e.g. googlenet predict photo.jpg -c model")
    count = sum(isinstance(e, Path) for e in entries)
    bar = None
    if o.progress and count:
        from tqdm import tqdm

        bar = tqdm(total=count, unit="img", leave=False, dynamic_ncols=True,
                   desc=f"{ensemble.cost(o.crops, o.scales)} crops/img")
    results = []
    largest = max(max(p.scales) for p in ensemble.protocols(o.crops, o.scales))
    try:
        for entry in entries:
            result = _predict_entry(ensemble, entry, o, largest)
            results.append(result)
            if on_result is not None:
                on_result(result)
            if bar and not isinstance(entry, InputProblem):
                bar.update(1)
    finally:
        if bar:
            bar.close()
    return results


def _predict_entry(ensemble: Ensemble, entry: Path | InputProblem, o: PredictOptions, largest: int) -> Prediction:
    """One input's result: its top classes, or the reason it could not be read."""
    if isinstance(entry, InputProblem):
        fatal = entry.fatal
        return Prediction(entry.path, error=entry.message) if fatal else Prediction(entry.path, note=entry.message)
    try:
        image, size = load_image(entry, ensemble.channels, max_short_side=largest)
    except DataError as exc:
        return Prediction(str(entry), error=str(exc))
    probs = ensemble.predict_proba([image], o.crops, scales=o.scales, crop_batch=o.crop_batch, device=o.device)[0]
    top = probs.topk(min(o.top_k, ensemble.num_classes))
    names = ensemble.class_names
    return Prediction(str(entry), [names[i] for i in top.indices.tolist()], top.indices.tolist(),
                      top.values.tolist(), size)
