"""``auto``: the fastest fp32/bf16 backend whose predictions stay within :data:`TOP1_BOUND_PT` of torch's.

Measured once per model, crop size and machine on the calibration photos (the first images of the split for
``eval``, real CIFAR-10 photos for ``predict``/``serve``): every candidate that builds is timed on the same
batch in interleaved rounds (the best round counts, since the host may be shared), and its top-1 on those
photos compared with the model as loaded. The choice and its figures are cached in the cache folder
(:func:`~googlenet.system.files.cache_root` ``/backends/auto.json``) under a key of the weights, the crop, the
thread count, the CPU and the library versions, and one note line says what was picked and why. A candidate
that is missing or fails to build (OpenVINO absent, a compile failure) is one line and drops out, so ``auto``
falls back to ONNX Runtime, then torch.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import time

import torch
from torch import Tensor

from ...errors import UserError
from . import backend_spec, register_backend
from .base import Backend, BackendContext, note

#: The fp32 and bf16 backends auto chooses among, in the order preferred on a tie.
CANDIDATES = ("ort", "openvino", "openvino-bf16", "torch")
#: The largest top-1 change (percentage points of the calibration photos) a candidate may make against the model.
TOP1_BOUND_PT = 0.1
ROUNDS = 3
CACHE_ENTRIES = 256


def _versions() -> str:
    out = []
    for package in ("torch", "onnxruntime", "openvino"):
        try:
            out.append(f"{package}={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{package}=none")
    return ",".join(out)


def cache_key(ctx: BackendContext) -> str:
    """The weights, the crop and the machine (CPU, flags, threads, library versions) as one hex digest."""
    from ...system.hardware import cpu_flags, cpu_name

    h = hashlib.sha256()
    for key, value in ctx.require_model("auto").state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    h.update(f"{ctx.crop_size}|{ctx.channels}|{ctx.intra_threads}|{cpu_name()}|{sorted(cpu_flags())}|"
             f"{_versions()}|{os.cpu_count()}".encode())
    return h.hexdigest()[:32]


def _cache_file():
    from ...system.files import cache_root

    return cache_root() / "backends" / "auto.json"


def read_cache() -> dict:
    try:
        data = json.loads(_cache_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_cache(key: str, record: dict) -> None:
    from ...system.files import atomic_write_text

    data = read_cache()
    data.pop(key, None)
    data[key] = record
    data = dict(list(data.items())[-CACHE_ENTRIES:])
    path = _cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=1))


def _candidates(ctx: BackendContext) -> tuple[dict[str, Backend], dict[str, str]]:
    """The candidates that build here, and one line for each that does not."""
    from . import build_in

    built, skipped = {}, {}
    for name in CANDIDATES:
        spec = backend_spec(name)
        reason = spec.unavailable()
        try:
            if reason is None:
                built[name] = build_in(name, ctx)
        except UserError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - an exporter or compiler failure drops the candidate only
            reason = f"{name} failed to build ({' '.join(str(exc).split())[:160] or type(exc).__name__})"
        if reason:
            skipped[name] = reason
    return built, skipped


def measure(ctx: BackendContext, images: Tensor) -> dict:
    """Every candidate's images/s on ``images`` and its top-1 change against the model, and the pick."""
    from .eager import EagerBackend

    built, skipped = _candidates(ctx)
    with torch.inference_mode():
        reference = EagerBackend(ctx.require_model("auto"))(images).argmax(1)
    best: dict[str, float] = {}
    changes = {}
    for name, backend in built.items():
        changes[name] = 100.0 * float((backend(images).argmax(1) != reference).float().mean())
    for _ in range(ROUNDS):
        for name, backend in built.items():
            t0 = time.perf_counter()
            backend(images)
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    rates = {n: round(len(images) / s, 2) for n, s in best.items()}
    within = [n for n in built if changes[n] <= TOP1_BOUND_PT]
    picked = max(within, key=lambda n: rates[n]) if within else "torch"
    return {"picked": picked, "images_per_s": rates, "top1_change_pt": changes, "skipped": skipped,
            "batch": len(images), "bound_pt": TOP1_BOUND_PT, "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
            "_built": built}


def explain(record: dict, cached: bool) -> str:
    """The one line that says what auto picked and why."""
    rates = ", ".join(f"{n} {r:g}" for n, r in sorted(record["images_per_s"].items(), key=lambda kv: -kv[1]))
    skipped = "".join(f"; {line}" for line in record["skipped"].values())
    return (f"--backend auto picked {record['picked']}: the fastest within {record['bound_pt']:g} pt top-1 of "
            f"torch on {record['batch'] or 'noise: no'} calibration photos (img/s {rates}){skipped}"
            f"{' [cached ' + record['measured'] + ']' if cached else ''}")


@register_backend("auto", summary="the fastest fp32/bf16 here within 0.1 pt top-1 of torch, measured and cached")
def auto(ctx: BackendContext) -> Backend:
    from . import build_in

    if torch.device(ctx.device).type != "cpu":
        return build_in("torch", ctx)
    key = cache_key(ctx)
    record = read_cache().get(key)
    if record and backend_spec(record["picked"]).unavailable() is None:
        try:
            backend = build_in(record["picked"], ctx)
            backend.auto_record = record
            note(explain(record, cached=True))
            return backend
        except UserError:
            pass  # a cached choice that no longer builds: measure again
    images = ctx.calibration
    if images is None or len(images) == 0:
        images = torch.rand(8, ctx.channels, ctx.crop_size, ctx.crop_size) * 2 - 1
    record = measure(ctx, images[:32].float())
    backend = record.pop("_built")[record["picked"]]
    if ctx.calibration is None:
        record["batch"] = 0  # noise: not worth caching as a measurement on photos
    else:
        write_cache(key, record)
    backend.auto_record = record
    note(explain(record, cached=False))
    return backend
