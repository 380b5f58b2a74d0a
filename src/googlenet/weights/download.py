"""Downloading the official weights files (for users online; nothing in the tests needs the network).

torchvision's URLs come from torchvision's own weight enums (``DEFAULT`` weights of each model); the
8-hex-digit suffix of their file names is the start of the file's SHA-256, which is checked.
BVLC's GoogLeNet is checked against the SHA-1 its model card (models/bvlc_googlenet/readme.md) lists.
Files land in a cache folder (``$XDG_CACHE_HOME/googlenet/weights``) through a temporary file, so an
interrupted download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, UserError

BVLC_GOOGLENET_URL = "http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel"
BVLC_GOOGLENET_SHA1 = "405fc5acd08a3bb12de8ee5e23a96bec22f08204"


@dataclass(frozen=True)
class Download:
    name: str  # registry model it imports into
    kind: str  # import kind
    url: str
    algorithm: str  # "sha256" (prefix) or "sha1"
    digest: str  # the expected hex digest, or its prefix

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def downloads() -> dict[str, Download]:
    """Every NAME ``googlenet weights download`` knows (``googlenet`` is BVLC's paper-exact GoogLeNet)."""
    from torchvision.models import get_model_weights

    from .torchvision import TORCHVISION_MODELS

    table = {"googlenet": Download("googlenet", "caffe", BVLC_GOOGLENET_URL, "sha1", BVLC_GOOGLENET_SHA1)}
    for ours, theirs in TORCHVISION_MODELS.items():
        url = get_model_weights(theirs).DEFAULT.url
        found = re.search(r"-([0-9a-f]{8,})\.pth$", url)
        if found:
            table[ours] = Download(ours, "torchvision", url, "sha256", found[1])
    table["bvlc_googlenet"] = table["googlenet"]
    return table


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "googlenet" / "weights"


def fetch(name: str, *, folder: str | Path | None = None, timeout: float = 30.0) -> tuple[Download, Path]:
    """Download ``name``'s official file into ``folder`` (default: the cache), check its hash, return its path."""
    table = downloads()
    if name not in table:
        raise UserError(f"no official weights for {name!r}; choose one of {', '.join(sorted(table))}")
    item = table[name]
    target = Path(folder or cache_dir()) / item.filename
    if target.is_file() and _digest(target, item.algorithm).startswith(item.digest):
        return item, target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    try:
        _download(item.url, tmp, timeout)
        got = _digest(tmp, item.algorithm)
        if not got.startswith(item.digest):
            raise DataError(f"{item.url} downloaded with {item.algorithm} {got[:16]}..., expected {item.digest[:16]}"
                            "...; the download is damaged or the file changed upstream; try again")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return item, target


def _download(url: str, dest: Path, timeout: float) -> None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as f:
            while chunk := response.read(1 << 20):
                f.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot download {url} ({reason}); check the internet connection, or download the file on "
                        "another machine and run `googlenet weights import auto FILE --out MODEL.safetensors`"
                        ) from None


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
