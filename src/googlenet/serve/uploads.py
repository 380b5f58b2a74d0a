"""Reading uploads: the body within its size and time limits, multipart parts, and the image's declared size.

Nothing here writes to disk: the body is read into memory (bounded by ``--max-body-mb``) and multipart parts
are cut from it with python-multipart's streaming parser (Starlette's own form parser spools parts over 1 MB
to a temporary file, so it is not used). An image's dimensions are read from its header before a single
pixel is decoded, so a decompression bomb -- a small file that declares a huge bitmap -- costs nothing.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

#: Pixels per byte above which an over-limit image is called a decompression bomb: a camera photo holds a few
#: pixels per byte of JPEG, a flat PNG a few hundred; a bomb declares thousands.
BOMB_PIXELS_PER_BYTE = 1000
IMAGE_FORMATS_HINT = "send a JPEG, PNG, WebP, BMP, GIF or TIFF file"


class ServeError(Exception):
    """A request the server refuses: an HTTP status, a short machine-readable ``kind`` and a one-line message
    naming the problem and the fix."""

    def __init__(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.headers = status, kind, message, dict(headers or {})

    def as_json(self) -> dict:
        return {"error": {"kind": self.kind, "message": self.message, "status": self.status}}


@dataclass
class Upload:
    name: str  # the file name sent, or "body" for a raw body
    data: bytes


async def read_body(request, *, max_bytes: int, timeout_s: float) -> bytes:
    """The whole request body, refusing one over ``max_bytes`` (413) or slower than ``timeout_s`` (408)."""
    from starlette.requests import ClientDisconnect

    limit_mb = max_bytes / 2**20
    too_large = ServeError(413, "body_too_large", f"the request body is over the server's {limit_mb:g} MB limit "
                           "(--max-body-mb); send a smaller image", {"Connection": "close"})
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise too_large
    except TimeoutError:
        raise ServeError(408, "slow_client", f"the request body did not arrive within {timeout_s:g} s "
                         f"(--body-timeout; {len(body)} bytes came); send it in one go",
                         {"Connection": "close"}) from None
    except ClientDisconnect:
        raise ServeError(400, "client_disconnected", "the client went away before its body arrived") from None
    return bytes(body)


def split_uploads(body: bytes, content_type: str | None, *, max_images: int) -> list[Upload]:
    """The images of a request: a raw body is one image; a ``multipart/form-data`` body, each file part
    (every part with a filename or a non-text content type, in order)."""
    if not body:
        raise ServeError(400, "empty_body", "the request body is empty (0 bytes); send the image as the body, "
                         "or as a multipart file field (curl -F file=@photo.jpg)")
    if content_type and content_type.lower().startswith("multipart/form-data"):
        parts = parse_multipart(body, content_type)
        uploads = [Upload(name or f"part{i}", data) for i, (name, data) in enumerate(parts)]
        if not uploads:
            raise ServeError(400, "no_file", "the multipart body holds no file part; send the image as a file "
                             "field (curl -F file=@photo.jpg)")
    else:
        uploads = [Upload("body", body)]
    if len(uploads) > max_images:
        raise ServeError(413, "too_many_images", f"{len(uploads)} images in one request, over the server's "
                         f"{max_images} (--max-images); split them into several requests")
    for upload in uploads:
        if not upload.data:
            raise ServeError(400, "empty_body", f"the file {upload.name!r} is empty (0 bytes); send an image file")
    return uploads


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str | None, bytes]]:
    """(filename, bytes) of each file part of a multipart/form-data body, held in memory."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ServeError(400, "bad_multipart", "the multipart/form-data body has no boundary in its Content-Type; "
                         "let the client library build the form (curl -F file=@photo.jpg)")
    parts: list[dict] = []
    field, value = bytearray(), bytearray()

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += data[start:end]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1]["headers"][bytes(field).lower()] = bytes(value)
        field.clear()
        value.clear()

    parser = MultipartParser(boundary, callbacks={
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end})
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise ServeError(400, "bad_multipart", f"the multipart body cannot be parsed ({exc}); let the client "
                         "library build the form (curl -F file=@photo.jpg)") from None
    files = []
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        filename = disposition.get(b"filename")
        kind = part["headers"].get(b"content-type", b"").lower()
        if filename is None and (not kind or kind.startswith(b"text/")):
            continue  # a plain form field, not a file
        files.append((filename.decode("utf-8", "replace") if filename is not None else None, bytes(part["data"])))
    return files


def check_image_header(data: bytes, name: str, *, max_pixels: int, min_side: int) -> tuple[int, int]:
    """(width, height) that ``data`` declares, refusing a non-image (415), a decompression bomb or an image over
    ``max_pixels`` (413) and one with a side under ``min_side`` (422), all before decoding a pixel."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the limit below says it better
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError as exc:
        raise ServeError(413, "decompression_bomb", f"{name!r} declares a bitmap far larger than its "
                         f"{len(data):,} bytes ({str(exc).splitlines()[0][:120]}); send a real photo") from None
    except UnidentifiedImageError:
        raise ServeError(415, "not_an_image", f"{name!r} ({len(data):,} bytes) is not in any image format Pillow "
                         f"reads; {IMAGE_FORMATS_HINT}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServeError(415, "not_an_image", f"{name!r} is not an image that can be read ({reason[:120]}); "
                         f"{IMAGE_FORMATS_HINT}") from None
    pixels = width * height
    if pixels > max_pixels:
        if pixels > BOMB_PIXELS_PER_BYTE * len(data):
            raise ServeError(413, "decompression_bomb", f"{name!r} is {len(data):,} bytes but declares "
                             f"{width:,} x {height:,} pixels ({pixels / 1e6:.3g} megapixels): a decompression "
                             "bomb; send a real photo")
        raise ServeError(413, "image_too_large", f"{name!r} is {width:,} x {height:,} = {pixels / 1e6:.3g} "
                         f"megapixels, over the server's {max_pixels / 1e6:.3g} (--max-megapixels); shrink it "
                         "first (the model reads it at a few hundred pixels anyway)")
    if min(width, height) < min_side:
        raise ServeError(422, "image_too_small", f"{name!r} is {width} x {height} pixels, under the server's "
                         f"{min_side}-pixel minimum side (--min-side); send a larger image")
    return width, height
