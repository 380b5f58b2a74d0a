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


# ---------------------------------------------------------------------------------------------------- outputs
#: The file only ``googlenet train`` writes into a run folder: a folder holding it is a run (docs/robustness.md).
RUN_MARKER = ".googlenet-run"
#: The one flag every command takes to replace what is already there.
FORCE_FLAG = "--force"


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file (the same path, a link to it, or a hard link)."""
    a, b = Path(a), Path(b)
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output_file(path: str | Path, *, force: bool = False, inputs: tuple[str | Path, ...] = (),
                      flag: str = "--output", what: str = "output") -> Path:
    """``path`` if a command may write it; else a one-line UserError.

    Never the command's own input (``inputs``), not even with ``force``; never a folder; an existing file only
    with ``force`` (``--force``): a command replaces only what the user says it may.
    """
    from ..errors import UserError

    path = Path(path)
    for source in inputs:
        if same_file(path, source):
            raise UserError(f"{flag} {str(path)!r} is the input {what} itself; writing it would destroy the input: "
                            "pass another path")
    if path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a folder; pass a file name, e.g. {path / ('model' + path.suffix)}")
    if path.exists() or path.is_symlink():
        if not force:
            raise UserError(f"{flag} {str(path)!r} already exists; pass another path, or {FORCE_FLAG} to replace it")
    return path


def check_output_dir(path: str | Path, *, force: bool = False, names: tuple[str, ...] = (),
                     flag: str = "--out") -> Path:
    """``path`` if a command may write ``names`` into it (the folder is created when missing).

    An existing file of that name is refused (one line); so, without ``force``, is an existing file among
    ``names`` in the folder, which the command would replace.
    """
    from ..errors import UserError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a file, not a folder; pass a folder name (it is created)")
    if not force:
        taken = [n for n in names if (path / n).exists()]
        if taken:
            raise UserError(f"{flag} {str(path)!r} already holds {', '.join(taken[:3])}"
                            f"{' ...' if len(taken) > 3 else ''}; pass another folder, or {FORCE_FLAG} to replace")
    return path


def check_run_dir(path: str | Path, *, force: bool = False) -> Path:
    """``path`` if ``googlenet train`` may make it its run folder: missing, empty, or a run it started.

    A folder with the user's files and no :data:`RUN_MARKER` is refused without ``force``, so a typo in
    ``--out`` never overwrites a model or a log that ``train`` did not write.
    """
    from ..errors import UserError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {str(path)!r} is a file, not a folder; pass a new folder name for the run")
    if path.is_dir() and not (path / RUN_MARKER).is_file() and not force:
        entries = sorted(p.name for p in path.iterdir())
        if entries:
            raise UserError(f"--out {str(path)!r} is a folder that is not a googlenet run and holds files "
                            f"({', '.join(entries[:3])}{' ...' if len(entries) > 3 else ''}); pass a new folder, "
                            f"or {FORCE_FLAG} to write the run into it (files of the same names are replaced)")
    return path


def mark_run_dir(path: str | Path) -> Path:
    """Create run folder ``path`` with its :data:`RUN_MARKER` (what :func:`check_run_dir` recognises)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    marker = path / RUN_MARKER
    if not marker.is_file():
        atomic_write_text(marker, "googlenet run folder: written by `googlenet train` (docs/robustness.md)\n")
    return path
