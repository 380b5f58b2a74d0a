"""Decode once: a dataset's photos decoded, resized and kept as one uint8 memory-mapped array.

Decoding a JPEG and resizing it is paid per image (docs/training.md#data-costs); a GoogLeNet epoch on
Imagenette would pay it 9,469 times, and per-image transforms.v2 pipelines cost more again.
:func:`open_cache` does it once per dataset, split and
training scale ``S`` and keeps the result in ``<cache>/images/*.npy``, which every later epoch, run and
torchrun rank maps read-only; :mod:`googlenet.data.augment` then crops and flips whole uint8 batches.

What is stored, and why: each image resized so that its *shorter* side is ``S`` (antialiased
bilinear), then centre-cropped to ``S x S`` -- the layout of fastai's and FFCV's fast ImageNet
pipelines. Fixed-size rows make the cache one (N, S, S, C) array that a batch indexes in one
operation; the price is the two side strips of non-square photos (1/8 of each end of a 4:3 photo),
which random-resized crops then never see. Imagenette-224 is square, so for it nothing is lost.
Keeping whole images (short side S, long side free) would need ragged storage and per-image offsets
for a few percent more crop variety; not worth it at these scales. Rows are stored channels-last
(H, W, C, as decoders produce them), which is also what the resize kernels are fast on (crops of a
channels-last batch against channels-first: docs/training.md#photos, "The cache and batched augmentation").

The file is keyed by a hash of the image list (path or tarball member name, size, mtime -- the
tarball's member list comes from :func:`~googlenet.data.archives.archive_index`, so a valid cache is
found without reading the tarball), the scale and the channel count; a changed, added or removed
image gives another key, and the stale file of the same dataset/split/scale is deleted when the new one
is built. It is written to a temporary file and renamed, so a killed build leaves no half-written
cache. Its size is printed and bounded (``max_bytes``, ``$GOOGLENET_CACHE_MAX_BYTES``, default 16 GB,
and the free disk space): over the bound, or when the cache folder cannot be written, the same pixels
are decoded on the fly, with one line saying so.

Under torchrun every rank uses the same file: with ``torch.distributed`` initialised rank 0 builds
it while the others wait at a barrier; otherwise an exclusive file lock (``fcntl.flock``) lets one
process build while the others wait, then read what it built.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from ..errors import DataError, UserError
from ..system.files import cache_root
from .images import Unread, check_pixels, check_regular_file, decode_image

CACHE_VERSION = 1
#: Default bound on one cache file (ImageNet's 1.28M training images at 144 px would be 80 GB).
DEFAULT_MAX_BYTES = 16_000_000_000
#: Space left free on the cache's disk when deciding whether a cache fits.
DISK_MARGIN_BYTES = 1_000_000_000

Log = Callable[[str], None]


def _print(msg: str) -> None:
    print(f"googlenet: {msg}", flush=True)


def env_bytes(name: str, default: int) -> int:
    """A byte count from environment variable ``name``: ``2000000000``, ``500M``, ``8G``, ``1.5T``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    m = re.fullmatch(r"(?i)(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", raw)
    if not m:
        raise UserError(f"{name}={raw!r} is not a size; use bytes or a number with K, M, G or T (e.g. 8G)")
    return int(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2).lower()])


def _mb(n: int) -> str:
    """A byte count in the unit that shows it: "1 byte", "999 bytes", "12.3 kB", "590 MB", "16.0 GB"."""
    if n < 1000:
        return f"{n:,} byte{'s' * (n != 1)}"
    for unit, scale in (("kB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        if n < scale * 1000 or unit == "GB":
            value = n / scale
            return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    raise AssertionError  # pragma: no cover


# ----------------------------------------------------------------------------------------------------
# Decoding one image


def _is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's header (Pillow reads only the markers), or None when it cannot tell."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as header:
                return header.size
    except Exception:  # noqa: BLE001 - unreadable header or over Pillow's bomb limit: Pillow's path names it
        return None


def decode_resized(source: str | Path | bytes, size: int, channels: int = 3, *, name: str | None = None
                   ) -> tuple[torch.Tensor, int]:
    """``source`` decoded, its shorter side resized to ``size`` and centre-cropped: ((C, size, size) uint8, short side).

    JPEGs go through ``torchvision.io.decode_jpeg`` (libjpeg-turbo; the same pixels as Pillow; the
    timings of both: docs/training.md#data-costs), with EXIF orientation applied and grey or CMYK
    converted to RGB; other
    formats and anything torchvision rejects go through :func:`~googlenet.data.images.decode_image`
    (Pillow: every mode, transparency over white). The second value is the original shorter side, so
    callers can tell the user about images that had to be upsampled.
    """
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:  # pragma: no cover - a torchvision without its decoders
        decode_jpeg = None

    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    if isinstance(source, Unread):
        raise DataError(source.reason)
    if not isinstance(source, bytes):
        # A regular file within the byte bound (a FIFO named x.jpg would block the build forever).
        check_regular_file(source, label, {"missing": "the dataset changed while in use: run again"})
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise DataError(f"image {label!r} not found; the dataset changed while in use: run again") from None
        except OSError as exc:
            raise DataError(f"cannot read image {label!r} ({exc.strerror or exc}); check the file") from None
    else:
        data = source
    img = None
    dims = _jpeg_size(data) if decode_jpeg is not None and _is_jpeg(data) else None
    if dims is not None:
        check_pixels(dims, label)  # the limit Pillow's path applies, before torchvision decodes a pixel
        try:
            mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
            # torchvision 0.29 marks its decoders deprecated in favour of TorchCodec (not installed here);
            # they remain the fastest JPEG path available, and Pillow (same pixels) takes over once gone.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                img = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=mode,
                                  apply_exif_orientation=True)
        except RuntimeError:
            img = None  # odd JPEGs (arithmetic coding, damaged): Pillow decides
    if img is None:
        pil = decode_image(data, channels, name=label, draft_short_side=size)
        img = TF.pil_to_tensor(pil)
    short = min(img.shape[-2:])
    if img.shape[-2:] != (size, size):
        # antialias: shrinking without it aliases (moire on fine textures); on uint8 input torchvision
        # rounds back to uint8, so the stored pixels are exactly what this function returns.
        img = TF.center_crop(TF.resize(img, size, antialias=True), [size, size])
    return img.contiguous(), short


def cache_key(rows: Sequence[tuple[str, int, int]], size: int, channels: int,
              kind: str = "short-side-center-crop") -> str:
    """The hash a cache file is named by: the image list (names, sizes, mtimes), what a row holds (``kind``),
    the scale, the channels."""
    h = hashlib.sha256(f"googlenet-cache v{CACHE_VERSION} {kind} {size} {channels}\n".encode())
    for name, nbytes, mtime in rows:
        h.update(f"{name}\0{nbytes}\0{mtime}\n".encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------
# The store a batch iterator reads


@dataclass(frozen=True)
class ScaledImages:
    """What a store holds: ``count`` images, image ``j`` read from ``source(j)`` (a path or a member's
    bytes; called ``names[j]`` in messages), decoded to ``channels`` and resized to ``size`` square."""

    size: int
    channels: int
    count: int
    source: Callable[[int], str | Path | bytes]
    names: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The cache array's shape: rows channels-last, (N, S, S, C)."""
        return (self.count, self.size, self.size, self.channels)

    @property
    def nbytes(self) -> int:
        return self.count * self.channels * self.size * self.size

    def name(self, row: int) -> str | None:
        return self.names[row] if row < len(self.names) else None

    def decode(self, row: int) -> tuple[torch.Tensor, int]:
        """Image ``row`` as :func:`decode_resized` gives it: ((C, S, S) uint8, its original shorter side)."""
        return decode_resized(self.source(row), self.size, self.channels, name=self.name(row))


class ImageStore:
    """The images of one dataset split at scale ``size``: ``store[rows]`` is a (B, C, S, S) uint8 batch.

    Backed by the memory-mapped cache file (``path``), or, when there is none (``on_the_fly``), by
    decoding the rows' files each time with :func:`decode_resized` -- the same pixels either way.
    Batches come out channels-last in memory (their shape is still N, C, H, W).
    """

    def __init__(self, images: ScaledImages, *, array: np.ndarray | None = None, path: Path | None = None,
                 reason: str = "", log: Log | None = None) -> None:
        self.scaled = images  # what it holds: the one record of its size, channels and count
        self.path, self.reason = path, reason
        self._array = array
        self._log, self._noted_small = log, False
        self.images = None if array is None else torch.from_numpy(array).permute(0, 3, 1, 2)

    @property
    def size(self) -> int:
        return self.scaled.size

    @property
    def channels(self) -> int:
        return self.scaled.channels

    @property
    def count(self) -> int:
        return self.scaled.count

    @property
    def on_the_fly(self) -> bool:
        return self._array is None

    @property
    def nbytes(self) -> int:
        return self.scaled.nbytes

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, rows: Sequence[int] | torch.Tensor) -> torch.Tensor:
        rows = torch.as_tensor(rows, dtype=torch.long).reshape(-1)
        if self._array is not None:
            # One fancy-indexing copy of the rows out of the page cache: (B, S, S, C), viewed as NCHW.
            batch = torch.from_numpy(self._array[rows.numpy()])
        else:
            batch = torch.stack([self.decode(int(r)).permute(1, 2, 0) for r in rows]) if len(rows) else \
                torch.empty((0, self.size, self.size, self.channels), dtype=torch.uint8)
        return batch.permute(0, 3, 1, 2)

    def decode(self, row: int) -> torch.Tensor:
        """Image ``row`` decoded and resized now, (C, S, S) uint8 (what the cache holds for it)."""
        img, short = self.scaled.decode(row)
        name = self.scaled.name(row)
        if short < self.size and not self._noted_small and self._log is not None:
            self._noted_small = True  # one note, not one per image
            self._log(f"note: images smaller than {self.size} px on their shorter side (e.g. {name}) are upsampled")
        return img

    def __repr__(self) -> str:
        where = f"on the fly ({self.reason})" if self.on_the_fly else str(self.path)
        return f"ImageStore({self.count} images at {self.size} px, {where})"


def _dist() -> tuple[int, int, bool]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), True
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")), False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created), so one process builds while others wait; no-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


#: Bytes hashed per read while checking a cache file (zlib.crc32 over 64 MB slices of the mapped file).
_CHUNK = 64 << 20


def _checksum(path: Path) -> tuple[int, int]:
    """(size, CRC-32) of ``path``, read front to back."""
    import zlib

    crc, size = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
    return size, crc


def _check_file(path: Path) -> Path:
    return path.with_name(path.name + ".crc32")


def _write_check(path: Path) -> None:
    from ..system.files import atomic_write_text

    size, crc = _checksum(path)
    atomic_write_text(_check_file(path), f"{size} {crc:08x}\n")


def _intact(path: Path) -> bool:
    """Whether ``path`` still has the size and CRC-32 recorded when it was built: a truncated, extended or
    bit-flipped cache file is found here, once per run when the cache is opened (docs/robustness.md)."""
    try:
        size_text, crc_text = _check_file(path).read_text().split()
        want = (int(size_text), int(crc_text, 16))
    except (OSError, ValueError):
        return False  # no record (a build killed between the rename and the record, or an old cache): rebuild
    if path.stat().st_size != want[0]:
        return False
    return _checksum(path) == want


def _open_array(path: Path, shape: tuple[int, ...], *, verify: bool = False) -> np.ndarray | None:
    if verify and not _intact(path):
        return None
    try:
        # mode "c" (copy-on-write): writable as far as torch.from_numpy is concerned, never written back.
        arr = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return arr if arr.shape == shape and arr.dtype == np.uint8 else None


def _remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files of cache builds that were killed (``.<name>.npy.<random>.tmp``, what
    atomic_write leaves when the process dies mid-build); a build still running holds its file's lock, and
    its temporary file is left alone. Returns how many were removed."""
    removed = 0
    for tmp in folder.glob(".*.tmp"):
        target = tmp.name[1:].rsplit(".", 2)[0]  # ".<target>.<random>.tmp" -> "<target>"
        if not target.endswith((".npy", ".crc32")):
            continue
        lock = folder / (target.removesuffix(".crc32").removesuffix(".npy") + ".lock")
        if _locked(lock):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed += 1
    return removed


def _locked(lock: Path) -> bool:
    """Whether another process holds ``lock`` (an exclusive flock); False where there is no fcntl or no file."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    if not lock.exists():
        return False
    try:
        with open(lock, "a+b") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:40] or "data"


def open_cache(dataset, size: int, *, cache_dir: str | Path | None = None, max_bytes: int | None = None,
               progress: bool | None = None, log: Log | None = _print) -> ImageStore:
    """The decoded images of ``dataset``'s split at scale ``size``, building the cache file if needed.

    Args:
        dataset: an :class:`~googlenet.data.ImageDataset` of image files or tarball members (a
            held-out subset caches its whole underlying split; index the store with ``dataset.indices``).
        size: ``S``, the shorter side images are resized to (and the side of the stored square).
        cache_dir: default :func:`cache_root`; the file goes in its ``images/`` folder.
        max_bytes: the largest cache file to build (default ``$GOOGLENET_CACHE_MAX_BYTES`` or 16 GB);
            over it, images are decoded on the fly.
        progress: a progress bar while building; default: when stderr is a terminal.
        log: where the one-line notes go (cache size and place, upsampled images, fallbacks); None: silent.
    """
    if size < 1:
        raise UserError(f"cache scale must be a positive number of pixels, got {size}")
    # Read (and refused if malformed) whether or not a cache exists: a typo never waits for the day it matters.
    limit = env_bytes("GOOGLENET_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES) if max_bytes is None else int(max_bytes)
    rows = dataset.fingerprint()
    images = ScaledImages(size, dataset.channels, len(rows), dataset.source, tuple(dataset.names))
    count, nbytes, shape = images.count, images.nbytes, images.shape
    rank, world, distributed = _dist()
    say = log if (log is not None and rank == 0) else (lambda _m: None)
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    folder = root / "images"
    path, group = _cache_file(dataset, folder, cache_key(rows, size, images.channels), size, images.channels)

    def fly(reason: str) -> ImageStore:
        say(f"note: {reason}; decoding images on the fly instead (slower)")
        return ImageStore(images, reason=reason, log=say)

    def opened(arr: np.ndarray) -> ImageStore:
        say(f"cache: {count:,} images at {size} px, {_mb(nbytes)}, in {folder}")
        return ImageStore(images, array=arr, path=path)

    def local() -> ImageStore:
        if folder.is_dir():
            _remove_stale_temporaries(folder)
        if path.is_file():
            if (arr := _open_array(path, shape, verify=True)) is not None:
                return opened(arr)
            say(f"note: the cache file {path.name} is damaged (its size or CRC-32 differs from the record made when "
                "it was built); rebuilding it")
        reason = _cannot_build(folder, nbytes, limit, f"a cache of {count:,} images at {size} px")
        if reason:
            return fly(reason)
        arr = _build_locked(path, images, group, progress, say)
        if arr is None:
            return fly(f"the cache {str(path)!r} could not be written")
        return opened(arr)

    if not (distributed and world > 1):
        return local()  # one process, or torchrun ranks before init_process_group: the file lock orders them
    return _across_ranks(rank, local, lambda: _open_array(path, shape) if path.is_file() else None, opened, fly)


def _across_ranks(rank: int, local: Callable[[], ImageStore], reopen: Callable[[], np.ndarray | None],
                  opened: Callable[[np.ndarray], ImageStore], fly: Callable[[str], ImageStore]) -> ImageStore:
    """Every rank makes the same collective call whatever it finds on disk: rank 0 opens or builds the
    file (``local``), the others wait at the barrier and then read what rank 0 left (or decode on the fly,
    as it does)."""
    import torch.distributed as dist

    store = local() if rank == 0 else None
    dist.barrier()
    if store is not None:
        return store
    arr = reopen()
    return opened(arr) if arr is not None else fly("rank 0 built no cache")


def _cache_file(dataset, folder: Path, key: str, size: int, channels: int, kind: str = "") -> tuple[Path, str]:
    """The cache file of ``dataset``'s split at ``size`` (named by the data's key) and its group: the tag that
    every version of the same dataset, split, scale, channels (and view ``kind``) shares, so a stale one can be
    found."""
    split = getattr(dataset, "source_split", dataset.split)
    group = hashlib.sha256(f"{dataset.name}|{split}|{size}|{channels}{'|' + kind if kind else ''}".encode()
                           ).hexdigest()[:8]
    stem = f"{_safe(Path(str(dataset.name)).name)}-{split}-{'views-' if kind else ''}{size}px-{group}"
    return folder / f"{stem}-{key[:20]}.npy", group


def _cannot_build(folder: Path, nbytes: int, limit: int, what: str) -> str | None:
    """Why a cache of ``nbytes`` (``what``) cannot be built in ``folder``: over the bound, an unwritable folder,
    too little free disk; None when it can."""
    if nbytes > limit:
        return (f"{what} would take {_mb(nbytes)}, over the {_mb(limit)} bound (raise GOOGLENET_CACHE_MAX_BYTES "
                "or lower the scale)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # a unique name: threads share a pid
            pass
    except OSError as exc:
        return (f"cache folder {str(folder)!r} cannot be written ({exc.strerror or exc}; set GOOGLENET_CACHE "
                "to a writable folder)")
    free = shutil.disk_usage(folder).free
    if nbytes + DISK_MARGIN_BYTES > free:
        return f"a cache of {_mb(nbytes)} does not fit in the {_mb(free)} free in {folder}"
    return None


def _build_locked(path: Path, images: ScaledImages, group: str, progress: bool | None, say: Log
                  ) -> np.ndarray | None:
    with _file_lock(path.with_suffix(".lock")):
        if path.is_file() and (arr := _open_array(path, images.shape, verify=True)) is not None:
            return arr  # another process built it while this one waited
        try:
            _build(path, images, progress, say)
        except OSError as exc:
            say(f"note: writing the cache failed ({exc.strerror or exc})")
            return None
        for old in path.parent.glob(f"*-{group}-*.npy"):  # the stale cache of the same data, split and scale
            if old != path:
                old.unlink(missing_ok=True)
                _check_file(old).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.with_suffix(".lock").unlink()
        return _open_array(path, images.shape)


def _build(path: Path, images: ScaledImages, progress: bool | None, say: Log) -> None:
    from tqdm import tqdm

    from ..system.files import atomic_write

    count, size = images.count, images.size
    small: list[str] = []

    def write(tmp: Path) -> None:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=images.shape)
        show = sys.stderr.isatty() if progress is None else progress
        with tqdm(total=count, desc=f"decoding {count:,} images at {size} px", unit="img", leave=False,
                  disable=not show, dynamic_ncols=True) as bar:
            for j in range(count):
                img, short = images.decode(j)
                arr[j] = img.permute(1, 2, 0).numpy()
                if short < size:
                    small.append(images.name(j) or str(j))
                bar.update()
        arr.flush()
        del arr

    _check_file(path).unlink(missing_ok=True)  # no record of a file being replaced
    atomic_write(path, write)
    _write_check(path)
    if small:
        say(f"note: {len(small):,} of {count:,} images are smaller than {size} px on their shorter side and were "
            f"upsampled (e.g. {small[0]})")


# ----------------------------------------------------------------------------------------------------
# Evaluation's views: kept by the first evaluation of a split, read by the next


class ViewCache:
    """The one view each image of a split gives a deterministic protocol (eval's centre crop), kept on disk.

    Training builds its cache before the first epoch; evaluation cannot know it will run again, so the first
    evaluation of a split writes each batch's views into a temporary file as it computes them (the views it
    uses anyway: no extra decode) and, once every image has been written, renames it into place; the next
    evaluation of the same files with the same protocol reads them and decodes nothing (docs/performance.md,
    "A decoded cache for eval"). The file is keyed like the training cache (the images' names, sizes and
    mtimes) plus ``kind``, the protocol's own description, so a changed photo or another crop gives another
    file; it carries the same CRC-32 record, checked when it is opened. While one process writes, it holds the
    file's lock, and another evaluating the same split just decodes."""

    def __init__(self, path: Path, group: str, shape: tuple[int, int, int, int], *, array: np.ndarray,
                 writing: Path | None, lock: Any, say: Log) -> None:
        self.path, self.shape, self._group, self._say = path, shape, group, say
        self._array, self._tmp, self._lock = array, writing, lock
        self._written = np.zeros(shape[0], dtype=bool) if writing is not None else None

    @classmethod
    def open(cls, dataset, kind: str, side: int, *, cache_dir: str | Path | None = None,
             max_bytes: int | None = None, log: Log | None = _print) -> ViewCache | None:
        """The views of ``dataset``'s split: ``ready`` when a previous evaluation kept them, else one to
        :meth:`write` into; None when the split cannot be kept (images in memory, a transform of the caller's,
        over the size bound, an unwritable folder, or another process writing the same file)."""
        if not getattr(dataset, "encoded", False) or getattr(dataset, "transform", None) is not None:
            return None
        say = log if log is not None else (lambda _m: None)
        rows = dataset.fingerprint()
        shape = (len(rows), side, side, dataset.channels)
        root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
        folder = root / "images"
        path, group = _cache_file(dataset, folder, cache_key(rows, side, dataset.channels, kind), side,
                                  dataset.channels, kind)
        if path.is_file() and (arr := _open_array(path, shape, verify=True)) is not None:
            return cls(path, group, shape, array=arr, writing=None, lock=None, say=say)
        limit = env_bytes("GOOGLENET_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES) if max_bytes is None else int(max_bytes)
        nbytes = int(np.prod(shape))
        if _cannot_build(folder, nbytes, limit, f"the {shape[0]:,} decoded views at {side} px") is not None:
            return None  # evaluation decodes as it always did: not worth a line of its own
        lock = _try_lock(path.with_suffix(".lock"))
        if lock is None:
            return None
        _remove_stale_temporaries(folder)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            _unlock(lock)
            return None
        return cls(path, group, shape, array=arr, writing=Path(tmp), lock=lock, say=say)

    @property
    def ready(self) -> bool:
        """Whether every view is on disk (read them with :meth:`read`)."""
        return self._tmp is None and self._array is not None

    def read(self, rows: Sequence[int]) -> torch.Tensor:
        """The views of the split's images ``rows`` as one contiguous batch (N, C, S, S) of uint8: laid out here,
        on the thread that reads, so the thread running the forward passes need not stack them."""
        batch = torch.from_numpy(self._array[np.asarray(rows, dtype=np.int64)])
        return batch.permute(0, 3, 1, 2).contiguous()

    def write(self, rows: Sequence[int], views: Sequence[torch.Tensor]) -> None:
        """Keep the views of images ``rows``; a view of another shape or type leaves the split unkept."""
        if self._written is None:
            return
        for row, view in zip(rows, views, strict=True):
            if view.dtype != torch.uint8 or tuple(view.shape) != (self.shape[3], self.shape[1], self.shape[2]):
                self.discard()
                return
            self._array[int(row)] = view.permute(1, 2, 0).numpy()
            self._written[int(row)] = True

    def commit(self) -> None:
        """Once every image was written: the file renamed into place with its CRC-32 record, the same split's
        file for older photos deleted, and one line saying where it is. Otherwise the same as :meth:`discard`."""
        if self._written is None or not self._written.all():
            self.discard()
            return
        tmp, self._tmp = self._tmp, None
        try:
            self._array.flush()
            self._array = None
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            _check_file(self.path).unlink(missing_ok=True)
            os.replace(tmp, self.path)
            _write_check(self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self._say(f"note: keeping the decoded views failed ({exc.strerror or exc}); the next eval decodes again")
            return
        finally:
            self._written = None
            _unlock(self._lock)
        for old in self.path.parent.glob(f"*-{self._group}-*.npy"):
            if old != self.path:
                old.unlink(missing_ok=True)
                _check_file(old).unlink(missing_ok=True)
        count, side = self.shape[0], self.shape[1]
        self._say(f"kept the {count:,} decoded views ({side} px, {_mb(int(np.prod(self.shape)))}) in "
                  f"{self.path.parent} for the next evaluation of these files (--no-cache: don't)")

    def discard(self) -> None:
        """Drop what was written (an evaluation of part of the split, or one that failed)."""
        if self._tmp is not None:
            self._array = None
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
            self._written = None
            _unlock(self._lock)


def _try_lock(path: Path) -> Any:
    """An exclusive lock on ``path``, taken without waiting: the open file, or None when another holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        f = open(path, "a+b")  # noqa: SIM115 - held until _unlock
    except OSError:
        return None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    return f


def _unlock(f: Any) -> None:
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    f.close()


__all__ = ["DEFAULT_MAX_BYTES", "ImageStore", "ScaledImages", "ViewCache", "cache_key", "cache_root", "decode_resized",
           "env_bytes", "open_cache"]
