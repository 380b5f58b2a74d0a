"""Class-folder tarballs (``train/<class>/*``, ``val/<class>/*``) read in place, and ImageNet class names.

A tarball is never unpacked. Listing one means reading its whole (gzipped) stream, because tar keeps
each member's header in front of its data (the time for Imagenette: docs/training.md#data-costs).
:func:`archive_index` therefore keeps the member list (name, size, mtime)
in the cache folder, keyed by the tarball's path, size and mtime, so that a second run knows which
images a tarball holds -- and whether the decoded cache (:mod:`googlenet.data.cache`) is still
valid -- without reading it. The image bytes themselves are read only when something needs to decode
them (:func:`archive_bytes`), in one front-to-back pass.

Class names: folders named by ImageNet wnids (``n01440764``) are shown by name (``tench``), from the
1000 ImageNet classes of :mod:`googlenet.data.imagenet`; another wnid stays as it is.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .images import Unread, is_image_name, max_image_bytes, oversize_message, unread

#: Extensions that name a tarball ``load_dataset`` reads in place.
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

#: The ten Imagenette classes (shared/data/README.md; fastai's imagenette2), a subset of ImageNet's.
IMAGENETTE_CLASSES = {
    "n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
    "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn", "n03417042": "garbage truck",
    "n03425413": "gas pump", "n03445777": "golf ball", "n03888257": "parachute",
}

#: Imagenette's class folders in index order (sorted wnids).
IMAGENETTE_WNIDS = tuple(sorted(IMAGENETTE_CLASSES))

_WNID = re.compile(r"^n\d{8}$")
_INDEX_VERSION = 1


def is_wnid(name: str) -> bool:
    """Whether ``name`` looks like an ImageNet (WordNet) id: ``n`` and eight digits."""
    return bool(_WNID.match(name))


def class_name_for(wnid: str) -> str:
    """The short name of ImageNet class ``wnid`` (``"n01440764"`` -> ``"tench"``); the wnid itself when it is
    none of the 1000 ImageNet-1k classes."""
    from .imagenet import _wnid_names

    return _wnid_names().get(wnid, wnid)


def display_names(folders: Sequence[str]) -> list[str]:
    """Class names for class folders ``folders``: mapped to names when every folder is a wnid.

    ImageNet has a few names twice (two "crane"s, two "maillot"s): those keep their wnid in brackets
    so that every class stays distinguishable.
    """
    folders = list(folders)
    if not folders or not all(is_wnid(f) for f in folders):
        return folders
    names = [class_name_for(f) for f in folders]
    return [f"{n} ({f})" if names.count(n) > 1 and n != f else n for n, f in zip(names, folders, strict=True)]


def is_archive_name(path: str | Path) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class Member:
    """One image in a tarball: its member name, split, class folder, size and mtime (what the cache key uses)."""

    name: str
    split: str
    folder: str
    size: int
    mtime: int


def check_archive(path: Path) -> None:
    """A one-line DataError unless ``path`` is a readable gzip or plain tar file."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as exc:
        raise DataError(f"cannot read {str(path)!r} ({exc.strerror or exc}); check the path") from None
    if head == b"\x1f\x8b":
        return
    if path.suffix.lower() in (".gz", ".tgz"):
        raise DataError(f"{str(path)!r} is not a gzip file; pass a .tar.gz made with `tar czf`, or a folder of "
                        "train/<class>/* images")
    if not tarfile.is_tarfile(path):
        raise DataError(f"{str(path)!r} is neither a gzip nor a tar file; pass a .tar.gz or .tar of "
                        "train/<class>/* images, or a folder")


def tar_error(path: Path, exc: BaseException) -> DataError:
    """The one-line error of a tarball that cannot be read: tarfile's message runs over several lines (one per
    compression it tried), kept whole on one line, then the fix."""
    reason = " ".join(str(exc).split())[:300] or exc.__class__.__name__
    return DataError(f"cannot read tarball {str(path)!r} ({reason}); the file is damaged or not a tarball: "
                     "replace it, or pass a folder of train/<class>/* images")


def read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, label: str) -> bytes | Unread:
    """A member's bytes, or, when its header declares more than :func:`max_image_bytes`, an :class:`Unread`
    marker saying so: the size is checked before a byte is read (an 800 MB member of zeros compresses to
    under 1 MB), and decoding the marker raises that one-line error (skipped under --skip-bad-images)."""
    if member.size > max_image_bytes():
        return unread(oversize_message(label, int(member.size)))
    f = tar.extractfile(member)
    return f.read() if f else b""


def _split_member(name: str) -> tuple[str, str] | None:
    parts = [p for p in Path(name).parts if p not in (".", "")]
    if len(parts) < 3:
        return None
    return parts[-3], parts[-2]


def _list_archive(path: Path) -> list[Member]:
    check_archive(path)
    out = []
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for m in tar:
                if not m.isfile() or not is_image_name(m.name):
                    continue
                where = _split_member(m.name)
                if where is not None:
                    out.append(Member(m.name, where[0], where[1], int(m.size), int(m.mtime)))
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
        raise tar_error(path, exc) from None
    return out


def _index_file(path: Path, cache_dir: Path) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{_INDEX_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return cache_dir / "index" / f"{path.name}-{key[:16]}.json"


@functools.lru_cache(maxsize=8)
def _archive_index(path: Path, size: int, mtime_ns: int, cache_dir: Path | None) -> tuple[Member, ...]:
    spot = _index_file(path, cache_dir) if cache_dir is not None else None
    if spot is not None and spot.is_file():
        try:
            return tuple(Member(*row) for row in json.loads(spot.read_text())["members"])
        except (OSError, ValueError, TypeError, KeyError):
            pass  # a damaged index is rebuilt below
    members = tuple(_list_archive(path))
    if spot is not None:
        from ..system.files import atomic_write

        text = json.dumps({"archive": str(path.resolve()), "members": [list(m.__dict__.values()) for m in members]})
        try:
            atomic_write(spot, lambda tmp: tmp.write_text(text))
        except OSError:
            pass  # an unwritable cache folder only costs the listing next time
    return members


def archive_index(path: str | Path, cache_dir: str | Path | None = None) -> list[Member]:
    """The image members of tarball ``path`` (listed once, then remembered in ``cache_dir``'s index/)."""
    path = Path(path).expanduser()
    check_archive(path)
    st = path.stat()
    if cache_dir is None:
        from ..system.files import cache_root

        cache_dir = cache_root()
    return list(_archive_index(path, st.st_size, st.st_mtime_ns, Path(cache_dir)))


def archive_layout(path: str | Path, cache_dir: str | Path | None = None) -> dict[str, dict[str, list[Member]]]:
    """``{split: {class folder: [members]}}`` of a tarball; a one-line DataError when it has no class folders."""
    layout: dict[str, dict[str, list[Member]]] = {}
    for m in archive_index(path, cache_dir):
        layout.setdefault(m.split, {}).setdefault(m.folder, []).append(m)
    if not layout:
        raise DataError(f"tarball {str(path)!r} holds no class folders of images; it needs "
                        "train/<class>/<image> (and optionally val/<class>/...), e.g. made with "
                        "`tar czf data.tar.gz train val`")
    for split in layout:
        layout[split] = {k: sorted(v, key=lambda m: m.name) for k, v in sorted(layout[split].items())}
    return layout


@functools.lru_cache(maxsize=2)
def _archive_bytes(path: Path, size: int, mtime_ns: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for m in tar:
                if m.isfile() and is_image_name(m.name) and _split_member(m.name) is not None:
                    out[m.name] = read_member(tar, m, f"{path.name}:{m.name}")
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
        raise tar_error(path, exc) from None
    return out


def archive_bytes(path: str | Path) -> dict[str, bytes]:
    """Every image member's bytes, read in one pass and kept in memory (132 MB for Imagenette)."""
    path = Path(path).expanduser()
    st = path.stat()
    return _archive_bytes(path, st.st_size, st.st_mtime_ns)


def forget_archive_bytes() -> None:
    """Drop the in-memory copies :func:`archive_bytes` keeps (e.g. once the decoded cache is built)."""
    _archive_bytes.cache_clear()


def find_archive(candidates: Sequence[Path]) -> Path | None:
    """The first of ``candidates`` that is a tarball file or a folder with a train/ split."""
    for c in candidates:
        if c.is_file() and is_archive_name(c):
            return c
        if c.is_dir() and (c / "train").is_dir():
            return c
    return None

