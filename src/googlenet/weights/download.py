"""Fetching the registry's released weights files (:mod:`.pretrained`) through torch.hub.

Files go to torch.hub's cache, ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``), under their
published names, so a file torchvision (or anything built on torch.hub) already downloaded is used as it is,
and one downloaded here serves torchvision too. ``torch.hub.download_url_to_file`` writes through a temporary
file and checks the SHA-256 prefix torchvision publishes in its file names; BVLC's file, whose model card
gives a SHA-1, is checked against it once downloaded. Nothing in the tests needs the network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import DataError, UserError


def cache_dir() -> Path:
    """torch.hub's checkpoint folder: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_entry(entry: Any, *, folder: str | Path | None = None, progress: bool = True) -> Path:
    """``entry``'s file (a :class:`~.pretrained.PretrainedEntry`) in ``folder`` (default: torch.hub's cache),
    downloaded and hash-checked when absent."""
    import torch.hub

    target = Path(folder or cache_dir()) / entry.filename
    if target.is_file():  # torch.hub's rule: a file under its published name is the file
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = entry.digest if entry.algorithm == "sha256" else None
    try:
        torch.hub.download_url_to_file(entry.url, str(target), hash_prefix=prefix, progress=progress)
    except RuntimeError as exc:
        if "invalid hash value" not in str(exc):
            raise
        raise DataError(f"{entry.url} downloaded with another hash than the published {entry.digest} ({exc}); the "
                        "download is damaged or the file changed upstream; try again") from None
    except OSError as exc:  # urllib's URLError, a timeout, a refused connection
        raise offline_error(entry, target, exc) from None
    if prefix is None:
        _check_digest(entry, target)
    return target


def offline_error(entry: Any, target: Path, exc: BaseException) -> UserError:
    """One line: which file, where to put it, and the command that imports it instead."""
    reason = " ".join(str(getattr(exc, "reason", exc)).split())[:120] or type(exc).__name__
    return UserError(f"cannot download {entry.filename} ({reason}): fetch {entry.url} on a machine that is online "
                     f"and put it at {target}, or import it: googlenet weights import {entry.kind} "
                     f"{entry.filename} --out {entry.model}.safetensors (then pretrained='{entry.model}.safetensors')")


def _check_digest(entry: Any, path: Path) -> None:
    h = hashlib.new(entry.algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if not h.hexdigest().startswith(entry.digest):
        path.unlink(missing_ok=True)
        raise DataError(f"{entry.url} downloaded with {entry.algorithm} {h.hexdigest()[:16]}..., not the published "
                        f"{entry.digest[:16]}...; the download is damaged or the file changed upstream; try again")
