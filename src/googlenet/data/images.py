"""Decoding image files of any mode into what a model takes: 8-bit grey (``L``) or 8-bit ``RGB``.

Photos, scans and exports come as grey, grey+alpha, palette (with or without transparency), RGBA,
CMYK, YCbCr, 1-bit, 16-bit and 32-bit grey. :func:`convert_image` maps each to the channel count
the model was built for:

* transparency is composited over a white background (a transparent pixel shows the "paper");
* 16-bit grey (``I;16*``, and ``I`` as Pillow opens 16-bit PNGs) is scaled 0..65535 -> 0..255;
* float images (``F``) in [0, 1] are scaled by 255, others are clipped to 0..255;
* the EXIF orientation of camera photos is applied, so a portrait photo is not fed in sideways;
* RGB -> grey uses ITU-R 601-2 luma (Pillow's ``convert("L")``); grey -> RGB repeats the channel.

A file that cannot be decoded raises :class:`~googlenet.errors.DataError` naming the file.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError

#: Extensions recognised as images in folders and tarballs (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp", ".gif")

_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError)

# ---------------------------------------------------------------------------------------------------- bounds
# One pixel limit for every decoder (Pillow here, torchvision's JPEG decoder in cache.py), one override
# (docs/robustness.md): the default is the size at which Pillow itself refuses a file as a decompression bomb
# (twice its MAX_IMAGE_PIXELS warning threshold), so what decoded before still decodes.
DEFAULT_MAX_PIXELS = 2 * 89_478_485
#: The largest image file or tarball member read into memory (an encoded photo is a few MB; an
#: uncompressed 60-megapixel RGB TIFF is 180 MB).
DEFAULT_MAX_IMAGE_BYTES = 256 * 2**20
PIXELS_ENV, BYTES_ENV = "GOOGLENET_MAX_PIXELS", "GOOGLENET_MAX_IMAGE_BYTES"


def _env_count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "").replace(",", "")
    if not raw:
        return default
    try:
        value = int(float(raw)) if raw.lower() not in ("inf", "nan") else -1
    except ValueError:
        value = -1
    if value < 1:
        raise DataError(f"{name}={os.environ[name]!r} is not a positive whole number; e.g. {name}={default}")
    return value


def max_pixels() -> int:
    """The most pixels (width x height) an image may have: ``$GOOGLENET_MAX_PIXELS``, else Pillow's bomb limit."""
    return _env_count(PIXELS_ENV, DEFAULT_MAX_PIXELS)


def max_image_bytes() -> int:
    """The largest image file or tarball member read: ``$GOOGLENET_MAX_IMAGE_BYTES``, else 256 MiB."""
    return _env_count(BYTES_ENV, DEFAULT_MAX_IMAGE_BYTES)


def _skip_hint(hints: dict[str, str] | None) -> str:
    return (hints or DATASET_HINTS)["corrupt"]


def check_pixels(size: tuple[int, int], label: str, hints: dict[str, str] | None = None) -> None:
    """A one-line DataError when an image of ``size`` (width, height) is over :func:`max_pixels`."""
    limit = max_pixels()
    w, h = size
    if w * h > limit:
        raise DataError(f"image {label!r} is {w:,} x {h:,} = {w * h / 1e6:,.0f} megapixels, over the "
                        f"{limit / 1e6:,.0f}-megapixel limit (a decompression bomb, or a photo to shrink first); "
                        f"raise it with {PIXELS_ENV}={w * h}, or {_skip_hint(hints)}")


def oversize_message(label: str, nbytes: int, hints: dict[str, str] | None = None) -> str:
    limit = max_image_bytes()
    return (f"image {label!r} is {nbytes:,} bytes, over the {limit:,}-byte bound on one image file; raise it with "
            f"{BYTES_ENV}={nbytes}, or {_skip_hint(hints)}")


class Unread(bytes):
    """Stands for an image that was not read (a tarball member over :func:`max_image_bytes`): empty bytes
    with ``.reason``; decoding it raises a DataError with that reason, so it is skipped and counted like
    any unreadable image."""

    reason: str = ""


def unread(reason: str) -> Unread:
    marker = Unread(b"")
    marker.reason = reason
    return marker


def check_regular_file(path: str | Path, label: str, hints: dict[str, str] | None = None) -> int:
    """The size of ``path`` if it is a regular file within :func:`max_image_bytes`; else a one-line DataError.

    A FIFO, socket or device named ``x.jpg`` would block (or never end) when read."""
    hints = {**DATASET_HINTS, **(hints or {})}
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"image {label!r} not found; {hints['missing']}") from None
    except OSError as exc:
        raise DataError(f"cannot read image {label!r} ({exc.strerror or exc}); check the file") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{label!r} is a folder, not an image; pass an image file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        raise DataError(f"{label!r} is {kind}, not a regular file; remove it, or {hints['corrupt']}")
    if st.st_size > max_image_bytes():
        raise DataError(oversize_message(label, st.st_size, hints))
    return st.st_size


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def convert_image(img: Image.Image, channels: int) -> Image.Image:
    """``img`` as 8-bit ``L`` (``channels=1``) or ``RGB`` (``channels=3``), whatever its mode."""
    if channels not in (1, 3):
        raise DataError(f"images can be converted to 1 (grey) or 3 (RGB) channels, not {channels}; "
                        "build the model with in_channels=1 or 3")
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if arr.size and np.nanmax(arr) <= 1.0:
            arr = arr * 255.0
        img = Image.fromarray(np.clip(np.round(np.nan_to_num(arr)), 0, 255).astype(np.uint8), "L")
    elif mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "1":
        img = img.convert("L")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    elif img.mode == "L" and "transparency" in img.info:
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img).convert("RGB")
    want = "L" if channels == 1 else "RGB"
    return img if img.mode == want else img.convert(want)


#: What a dataset's error messages tell the user to do (predict passes its own).
DATASET_HINTS = {
    "missing": "check the dataset folder",
    "corrupt": "delete or replace the file, or pass --skip-bad-images (skip_bad_images=True) to skip it",
}


def _check_readable(source: str | Path | bytes, label: str, hints: dict[str, str]) -> None:
    """Refuse, before Pillow opens it, what cannot or must not be read: a tarball member that could not be
    read (:class:`Unread`), bytes over the byte bound, a path that is no regular file or is over it."""
    if isinstance(source, Unread):
        raise DataError(source.reason)
    if isinstance(source, bytes):
        if len(source) > max_image_bytes():
            raise DataError(oversize_message(label, len(source), hints))
    else:
        check_regular_file(source, label, hints)


def _pixel_limit() -> int:
    """:func:`max_pixels`, with Pillow's own bomb threshold raised to match when the user raised ours."""
    limit = max_pixels()
    if os.environ.get(PIXELS_ENV) and Image.MAX_IMAGE_PIXELS is not None and limit > 2 * Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = limit // 2  # Pillow's own bomb error would come first (at twice its threshold)
    return limit


def decode_image(source: str | Path | bytes, channels: int, *, name: str | None = None,
                 draft_short_side: int | None = None, hints: dict[str, str] | None = None) -> Image.Image:
    """Open ``source`` (a path or the encoded bytes) and convert it with :func:`convert_image`.

    ``name`` is what error messages call the image (default: the path); ``hints`` maps ``"missing"`` and
    ``"corrupt"`` to the fix those messages name (default :data:`DATASET_HINTS`). With
    ``draft_short_side`` a JPEG more than twice that size is decoded at 1/2, 1/4 or 1/8 scale straight
    from the DCT, so a 50-megapixel photo never becomes a full-size bitmap; the image keeps
    ``img.info["original_size"]`` either way.
    """
    hints = {**DATASET_HINTS, **(hints or {})}
    label = name or str(source if not isinstance(source, bytes) else "<bytes>")
    _check_readable(source, label, hints)
    limit = _pixel_limit()
    size = None
    over = False
    # Pillow warns (DecompressionBombWarning, corrupt EXIF or TIFF tags) in two lines that name neither the
    # file nor what it means; record them and say it in one line that names the file.
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fp = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(fp) as img:
                size = img.size
                over = img.size[0] * img.size[1] > limit
                check_pixels(img.size, label, hints)  # before a pixel is decoded
                if draft_short_side and img.format == "JPEG" and min(size) > 2 * draft_short_side:
                    scale = draft_short_side / min(size)
                    img.draft(img.mode, (max(1, int(size[0] * scale)), max(1, int(size[1] * scale))))
                img.load()
                img = ImageOps.exif_transpose(img) or img
                img = convert_image(img, channels)
    except DataError as exc:
        if over or str(exc).startswith("image "):
            raise
        raise DataError(f"{label}: {exc}") from None
    except Image.DecompressionBombError:
        raise DataError(f"image {label!r} is over Pillow's decompression-bomb limit of "
                        f"{2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:,.0f} megapixels; raise it with {PIXELS_ENV}, or "
                        f"{hints['corrupt']}") from None
    except FileNotFoundError:
        raise DataError(f"image {label!r} not found; {hints['missing']}") from None
    except IsADirectoryError:
        raise DataError(f"{label!r} is a folder, not an image; pass an image file") from None
    except _DECODE_ERRORS as exc:
        reason = " ".join(str(exc).split())[:200] or exc.__class__.__name__
        raise DataError(f"cannot decode image {label!r} ({reason}); {hints['corrupt']}") from None
    finally:
        if not over:  # an image over the limit is one error, not a note as well
            _report_warnings(caught, label, size)
    img.info["original_size"] = size
    return img


def image_tensor(img: Image.Image, *, max_short_side: int | None = None):
    """A decoded ``L`` / ``RGB`` image as a uint8 tensor (C, H, W); with ``max_short_side`` a larger image is
    first shrunk (aspect kept, Pillow's bilinear with ``reducing_gap``) so its shorter side is that long: what
    ``predict`` and :func:`googlenet.data.create_transform` do before the test resize, so that memory is
    bounded by the test scale, not by the photo."""
    import torch

    if max_short_side and min(img.size) > max_short_side:
        w, h = img.size
        scale = max_short_side / min(w, h)
        img = img.resize((max(max_short_side, round(w * scale)), max(max_short_side, round(h * scale))),
                         Image.Resampling.BILINEAR, reducing_gap=3.0)
    tensor = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    return tensor.contiguous()


#: Notes printed per kind of warning in this process; a dataset of thousands of odd files stops at this many.
MAX_NOTES_PER_KIND = 5
_notes_printed: dict[str, int] = {}


def _report_warnings(caught: list[warnings.WarningMessage], label: str, size: tuple[int, int] | None) -> None:
    """One ``googlenet: note:`` line per distinct Pillow warning, naming the file; other warnings as they were."""
    lines: dict[str, str] = {}
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            dims = f" ({size[0]:,} x {size[1]:,} = {size[0] * size[1] / 1e6:.3g} megapixels)" if size else ""
            cap = Image.MAX_IMAGE_PIXELS
            limit = f" over Pillow's {cap / 1e6:.3g}-megapixel limit," if cap else ""
            lines.setdefault(f"{label} is very large{dims},{limit} so decoding it takes time and memory (it is "
                             "shrunk to the test scale after)", w.category.__name__)
        elif "PIL" in Path(w.filename).parts:
            text = str(w.message).strip()
            lines.setdefault(f"{label}: {text.splitlines()[0] if text else w.category.__name__}", w.category.__name__)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    for line, kind in lines.items():
        count = _notes_printed.get(kind, 0)
        _notes_printed[kind] = count + 1
        if count < MAX_NOTES_PER_KIND:
            print(f"googlenet: note: {line}", file=sys.stderr)
        elif count == MAX_NOTES_PER_KIND:
            print(f"googlenet: note: more images gave Pillow's {kind}; not shown", file=sys.stderr)
