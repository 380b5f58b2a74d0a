"""What every backend is and what it is built from: :class:`Backend` and :class:`BackendContext`."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ...errors import UserError


def note(message: str) -> None:
    """One ``googlenet: note:`` line on stderr (what a backend decided for the user, and why)."""
    print(f"googlenet: note: {message}", file=sys.stderr, flush=True)


#: A batch is split across the cores from this many images a part on (docs/performance.md, "Streams").
MIN_IMAGES_PER_STREAM = 4
#: Parts per stream: more parts than streams, taken by whichever stream is free, so a core shared with other
#: work (eval's decode thread) takes fewer of them instead of holding the batch up.
PARTS_PER_STREAM = 2


class Streams:
    """One single-threaded stream per core: a large batch runs as parts, each computed by one stream from start
    to end, the streams at once.

    Why: on a few cores one call's intra-op threads wait for each other after every layer, and GoogLeNet's
    layers after the stem are small (14x14 and 7x7 maps, 1x1 convolutions of a few dozen channels), so the two
    threads of one call idle a good part of the time; parts computed each by one thread keep both cores busy
    (the reason OpenVINO's throughput mode runs streams). Small batches (fewer than ``MIN_IMAGES_PER_STREAM``
    images a stream) run as one call on every core, for latency. The parts are handed out as the streams come
    free (the calling thread is one of them), so a core shared with other work does less of the batch."""

    def __init__(self, threads: int) -> None:
        self.count = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.count - 1, thread_name_prefix="googlenet-stream") \
            if self.count > 1 else None
        self.split_batches = 0  # how many batches ran as parts (what the tests check)

    def splits(self, images: int) -> bool:
        """Whether a batch of ``images`` runs as parts."""
        return self.count > 1 and images >= self.count * MIN_IMAGES_PER_STREAM

    def parts(self, x: np.ndarray) -> list[np.ndarray]:
        """``x`` cut along the batch into parts of near-equal size, ``PARTS_PER_STREAM`` a stream but none under
        ``MIN_IMAGES_PER_STREAM`` images: views, each contiguous."""
        self.split_batches += 1
        per_part = max(MIN_IMAGES_PER_STREAM, -(-len(x) // (self.count * PARTS_PER_STREAM)))
        return np.array_split(x, max(self.count, len(x) // per_part))

    def map(self, run: Callable[[int, Any], Any], parts: Sequence[Any]) -> list[Any]:
        """``[run(stream, part) for part in parts]``, each part run by the first stream free (the calling thread,
        stream 0, or one of the pool's, 1 to ``count - 1``)."""
        assert self._pool is not None
        results: list[Any] = [None] * len(parts)
        order = iter(range(len(parts)))
        lock = threading.Lock()

        def stream(k: int) -> None:
            while True:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                results[i] = run(k, parts[i])

        others = [self._pool.submit(stream, k) for k in range(1, self.count)]
        stream(0)
        for other in others:
            other.result()
        return results


class Backend:
    """Logits of normalized crops: ``backend(images) -> (N, classes)`` float32 on the CPU (or ``images``' device).

    ``bind(x)`` returns a zero-argument callable that runs one fixed batch (what ``googlenet bench`` times, with
    the input already converted); its result goes through :meth:`to_numpy` for the bench's comparisons."""

    name = "backend"
    crop_size: int | None = None

    def __call__(self, images: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def bind(self, images: Tensor) -> Callable[[], Any]:
        return lambda: self(images)

    def to_numpy(self, out: Any):
        return out.detach().cpu().float().numpy() if isinstance(out, Tensor) else out

    def describe(self) -> str:
        return self.name


@dataclass
class BackendContext:
    """What a backend factory builds from: the model (or an ONNX file), the crop it reads and the machine."""

    model: nn.Module | None = None
    crop_size: int = 224
    channels: int = 3
    device: str | torch.device = "cpu"
    #: An fp32 ONNX file to run (an ``.onnx`` model given by the user); else the model is exported.
    onnx_path: str | Path | None = None
    #: Normalized crops (N, C, crop_size, crop_size) of real photos: int8 calibration and auto's measurement.
    calibration: Tensor | None = None
    threads: int | None = None
    #: Where exported graphs go (the bench reuses them across backends); a temporary folder when None.
    workdir: Path | None = None

    @property
    def intra_threads(self) -> int:
        return self.threads or torch.get_num_threads()

    def require_model(self, backend: str) -> nn.Module:
        if self.model is None:
            raise UserError(f"--backend {backend} needs a .safetensors model file, not an .onnx export; pass the "
                            "model file it was exported from, or --backend ort")
        return self.model

    def onnx(self, *, fuse_inception: bool = False) -> Path:
        """The fp32 ONNX graph: the user's file, else the BN-folded model (no aux heads, dynamic batch) exported
        once into ``workdir``. ``fuse_inception`` also fuses each inception module's input 1x1 convolutions
        (:func:`~googlenet.deploy.fusion.optimize_for_inference`)."""
        if self.onnx_path is not None:
            return Path(self.onnx_path)
        from ..export import LogitsOnly
        from ..fusion import optimize_for_inference
        from ..onnx import export_onnx

        assert self.workdir is not None, "build_backend gives every context a workdir"
        path = self.workdir / ("fused.onnx" if fuse_inception else "folded.onnx")
        if not path.exists():
            folded = optimize_for_inference(self.require_model("ort").cpu(), fuse_inception=fuse_inception)
            export_onnx(LogitsOnly(folded), path, input_size=self.crop_size, in_channels=self.channels)
        return path

    def require_calibration(self, backend: str) -> Tensor:
        if self.calibration is None or len(self.calibration) == 0:
            raise UserError(f"--backend {backend} needs calibration images; evaluate on a dataset, or pass "
                            "--data-dir with cifar10-jpeg.tar.gz")
        return self.calibration.detach().cpu().float()
