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
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError

#: Extensions recognised as images in folders and tarballs (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp", ".gif")

_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError)


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
    size = None
    # Pillow warns (DecompressionBombWarning, corrupt EXIF or TIFF tags) in two lines that name neither the
    # file nor what it means; record them and say it in one line that names the file.
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fp = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(fp) as img:
                size = img.size
                if draft_short_side and img.format == "JPEG" and min(size) > 2 * draft_short_side:
                    scale = draft_short_side / min(size)
                    img.draft(img.mode, (max(1, int(size[0] * scale)), max(1, int(size[1] * scale))))
                img.load()
                img = ImageOps.exif_transpose(img) or img
                img = convert_image(img, channels)
    except DataError as exc:
        raise DataError(f"{label}: {exc}") from None
    except FileNotFoundError:
        raise DataError(f"image {label!r} not found; {hints['missing']}") from None
    except IsADirectoryError:
        raise DataError(f"{label!r} is a folder, not an image; pass an image file") from None
    except _DECODE_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise DataError(f"cannot decode image {label!r} ({reason}); {hints['corrupt']}") from None
    finally:
        _report_warnings(caught, label, size)
    img.info["original_size"] = size
    return img


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
