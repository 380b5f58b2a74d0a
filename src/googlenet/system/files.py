"""Files that are never half-written: every model file, training state and result goes through here."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, then atomically rename ``tmp_path`` to ``path``.

    A crash or Ctrl-C mid-write leaves the old file (or none), never a truncated one. The file gets the
    permissions an ordinary ``open(path, "w")`` would give (``0o666`` less the umask): the temporary file
    ``mkstemp`` makes is private (0600), which would hide run files from the user's group.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def cache_root() -> Path:
    """``$GOOGLENET_CACHE``, else ``$XDG_CACHE_HOME/googlenet``, else ``~/.cache/googlenet``: never the data folder."""
    env = os.environ.get("GOOGLENET_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "googlenet"
