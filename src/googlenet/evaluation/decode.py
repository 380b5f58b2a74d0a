"""A batch of a dataset's photos decoded in one call: ``torchvision.io.decode_jpeg`` on the list of a batch's
JPEG bytes (libjpeg-turbo, no Pillow image per photo), the per-file path (:mod:`googlenet.data.images`) for
the rest.

``decode_batch(data, positions)`` gives the tensors ``data[i]`` gives, image by image. A JPEG goes the batched
way only where both decoders agree on the pixels: 8-bit, YCbCr or grey read as RGB, or grey read as grey,
within the byte and pixel bounds, EXIF orientation applied by both. Everything else (PNG, CMYK, an RGB photo
read as grey, whose luma the two round differently, an image over the bounds) and every image of a batch the
batched call rejects (a damaged file) goes through ``data[i]``, so a file that cannot be read raises the
same one-line DataError as before, and ``--skip-bad-images`` leaves such files out as before.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

#: The JPEG component counts (3: YCbCr, 1: grey) whose decoding both libraries agree on, per channels read.
_SAME_PIXELS = {3: (3, 1), 1: (1,)}
#: Start-of-frame markers (SOF0-SOF15 less DHT, JPG and DAC, which share the range).
_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Markers that carry no length field (TEM, RST0-7).
_BARE_MARKERS = frozenset((0x01, *range(0xD0, 0xD8)))


def jpeg_frame(data: bytes) -> tuple[int, int, int, int] | None:
    """(bits per sample, width, height, components) from a JPEG's frame header, read from its markers (a few
    microseconds, no decoder opened); None when the bytes are not a JPEG this can read."""
    if data[:2] != b"\xff\xd8":
        return None
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte
            pos += 1
            continue
        if marker in _BARE_MARKERS:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in _FRAME_MARKERS:
            if pos + 10 > end:
                return None
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            return data[pos + 4], width, height, data[pos + 9]
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a JPEG to trust
            return None
        pos += 2 + length
    return None


def _encoded_bytes(source: str | Path | bytes) -> bytes | None:
    """The bytes of a source (a file is read when it is within the byte bound); None for anything else."""
    from ..data.images import Unread, max_image_bytes

    if isinstance(source, Unread):
        return None
    if isinstance(source, bytes):
        return source if len(source) <= max_image_bytes() else None
    try:
        if os.path.getsize(source) > max_image_bytes():
            return None
        with open(source, "rb") as f:
            return f.read()
    except (OSError, TypeError):  # gone, unreadable, not a path: the per-file path says why
        return None


def _plain_jpeg(data: bytes, channels: int) -> bool:
    """Whether libjpeg-turbo through torchvision decodes ``data`` to the pixels the per-file path gives."""
    from ..data.images import max_pixels

    frame = jpeg_frame(data)
    if frame is None:
        return False
    bits, width, height, components = frame
    return bits == 8 and components in _SAME_PIXELS.get(channels, ()) and 0 < width * height <= max_pixels()


def _decode_jpegs(blobs: list[bytes], channels: int) -> list[Tensor] | None:
    """One ``decode_jpeg`` call on the list; None when it rejects any of them."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:  # pragma: no cover - a torchvision built without its decoders
        return None
    mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in blobs]
    try:
        # torchvision 0.29 marks its decoders deprecated in favour of TorchCodec (not installed here).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(decode_jpeg(tensors, mode=mode, apply_exif_orientation=True))
    except RuntimeError:
        return None


def batched_jpegs(data, positions: Sequence[int]) -> dict[int, Tensor]:
    """The plain JPEGs among ``positions`` decoded in one call, by their place in ``positions``."""
    if not getattr(data, "encoded", False) or getattr(data, "transform", None) is not None:
        return {}
    blobs = {k: _encoded_bytes(data.source(int(data.indices[i]))) for k, i in enumerate(positions)}
    plain = {k: b for k, b in blobs.items() if b is not None and _plain_jpeg(b, data.channels)}
    if not plain:
        return {}
    decoded = _decode_jpegs(list(plain.values()), data.channels)
    if decoded is not None:
        return dict(zip(plain, decoded, strict=True))
    # One damaged file rejects the whole call: decode the rest one by one, the damaged one by the per-file path.
    singles = {k: _decode_jpegs([b], data.channels) for k, b in plain.items()}
    return {k: d[0] for k, d in singles.items() if d is not None}


def decode_batch(data, positions: Sequence[int]) -> tuple[list[Tensor], list[int]]:
    """``data[i]`` for each of ``positions``: the images as uint8 tensors (C, H, W) and the labels, the plain
    JPEGs decoded in one call (their labels read from ``data.targets``, without decoding again)."""
    fast = batched_jpegs(data, positions)
    targets = data.targets if fast else None
    images, labels = [], []
    for k, i in enumerate(positions):
        if k in fast:
            image, label = fast[k], int(targets[i])
        else:
            image, label = data[i]
        images.append(image.as_subclass(Tensor) if isinstance(image, Tensor) else torch.as_tensor(image))
        labels.append(int(label))
    return images, labels
