"""Throughput benchmarks: our inference backends and training loop beside torchvision's, in one run.

The machine this runs on is usually shared, so absolute figures drift from minute to minute. Every
figure is therefore measured *interleaved* with the anchors -- torchvision's eager model and ONNX
Runtime on torchvision's own ONNX export -- in rounds (backend A, B, C, ... then again), after a
warm-up, and reported as the median over rounds together with its ratio to the anchors. The load
average (``os.getloadavg``) before and after is recorded beside the figures.

Backends (``BACKENDS``): the anchors ``tv-eager`` (torchvision's model, eager, NCHW) and ``tv-ort`` (ONNX
Runtime on torchvision's ONNX export), then every backend of the registry (:mod:`googlenet.deploy.backends`:
``eager`` our model as loaded, ``torch``, ``compile``, ``ort``, ``ort-fused``, ``int8``, ``openvino``,
``openvino-bf16``, ``openvino-int8``), the same objects ``eval``, ``predict`` and ``serve`` run. Each row also
gives the fraction of the CPU's peak multiply-adds it reaches at its precision
(:func:`~googlenet.bench.machine.peak_macs_per_s`: cores x clock x multiply-adds per cycle).

Peak memory is the peak resident set size of a fresh process that builds the backend and runs it
at each batch size, minus that process's size after ``import torch, onnxruntime`` (so it counts
weights, compiled code, workspace and activations, not the libraries).
"""


from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..system.threads import torch_threads
from .backends import ANCHORS, DEFAULT_BACKENDS, check_bench_backends, prepare_backends
from .inputs import build_pair, real_images, same_layout, settle_batch_norm
from .machine import load_average, machine, peak_macs_per_s
from .memory import measure_peak_memory
from .timing import Measurement, time_interleaved


@dataclass(frozen=True)
class InferenceBench:
    """What one inference benchmark measures: :func:`bench_inference`'s arguments, travelling together.

    ``seconds`` is the timing budget per batch size (warm-up and compilation come on top); ``workdir`` keeps the
    exported files (default: a temporary folder); ``log`` receives progress lines."""

    model_name: str = "googlenet_torchvision"
    backends: Sequence[str] = DEFAULT_BACKENDS
    batches: Sequence[int] = (1, 32)
    input_size: int | None = None
    seconds: float = 20.0
    threads: int | None = None
    memory: bool = True
    model_kwargs: dict[str, Any] | None = None
    data_dir: str | Path | None = None
    workdir: str | Path | None = None
    log: Callable[[str], None] | None = None


def _checked_size(spec: InferenceBench) -> tuple[int, float | None]:
    """The input side and the multiply-adds per image at it, after checking the run's settings."""
    from ..models.registry import model_info

    if not spec.batches or any(b < 1 for b in spec.batches):
        raise UserError(f"batch sizes must be positive integers, got {list(spec.batches)}; e.g. --batch 1 --batch 32")
    if spec.seconds <= 0:
        raise UserError(f"--seconds must be positive, got {spec.seconds}")
    check_bench_backends(spec.backends)
    info = model_info(spec.model_name)
    macs = info.macs * 1e9 if info.macs else None
    input_size = spec.input_size
    if input_size is None:
        input_size = 32 if (spec.model_kwargs or {}).get("small_input") else info.input_size
    if macs and input_size != info.input_size:
        macs *= (input_size / info.input_size) ** 2  # convolutions scale with the pixels
    return input_size, macs


def _bench_inference(spec: InferenceBench) -> dict[str, Any]:
    """Measure every backend at every batch size, interleaved with torchvision's anchors.

    Returns a dict with ``machine``, ``load_before``/``load_after`` and ``results`` (one row per backend
    and batch, with ``vs_tv_eager``/``vs_tv_ort`` ratios and ``max_abs_diff`` to our eager model).
    """
    log = spec.log or (lambda msg: None)
    input_size, macs = _checked_size(spec)
    model_kwargs = dict(spec.model_kwargs or {})
    names = list(dict.fromkeys(list(ANCHORS) + [b for b in spec.backends if b not in ANCHORS]))
    load_before = load_average()
    ours, tv = build_pair(spec.model_name, model_kwargs)
    in_channels = getattr(ours, "in_channels", 3)
    images = real_images(max(64, max(spec.batches)), input_size, channels=in_channels, data_dir=spec.data_dir)
    settle_batch_norm(ours, images[:32])
    if same_layout(ours, tv):
        tv.load_state_dict(ours.state_dict())
    else:
        settle_batch_norm(tv, images[:32])
    tmp = tempfile.TemporaryDirectory(prefix="googlenet-bench-") if spec.workdir is None else None
    work = Path(spec.workdir or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    try:
        log(f"building backends: {', '.join(names)}")
        prepared = prepare_backends(names, ours, tv, workdir=work, input_size=input_size, threads=spec.threads,
                                    calibration=images[:32])
        results: list[Measurement] = []
        for batch in spec.batches:
            results += _time_batch(prepared, ours, images[:batch].contiguous(), spec, macs, log)
            gc.collect()
        if spec.memory:
            _add_peak_memory(results, prepared, spec, model_kwargs, input_size, work, log)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {"kind": "inference", "model": spec.model_name, "model_kwargs": model_kwargs, "input_size": input_size,
            "threads": spec.threads, "seconds_per_batch": spec.seconds, "machine": machine(),
            "load_before": load_before, "load_after": load_average(), "results": [r.as_dict() for r in results]}


def _time_batch(prepared: list, ours: Any, x: Any, spec: InferenceBench, macs: float | None,
                log: Callable[[str], None]) -> list[Measurement]:
    """One batch size: each backend's first call (compilation, outside the timing) and its difference to our
    eager model, then all of them timed interleaved with the anchors."""
    batch = x.shape[0]
    with torch.inference_mode():
        reference = ours(x).numpy()
    runs = {p.name: p.make(x) for p in prepared}
    diffs = {}
    for p in prepared:
        t0 = time.perf_counter()
        out = p.to_numpy(runs[p.name]())  # also triggers compilation outside the timing
        log(f"batch {batch}: {p.name} first call {time.perf_counter() - t0:.1f}s")
        diffs[p.name] = float(np.abs(out - reference).max()) if out.shape == reference.shape else None
    log(f"batch {batch}: timing {len(runs)} backends for about {spec.seconds:.0f}s")
    timed = time_interleaved(runs, batch=batch, seconds=spec.seconds)
    anchor = {a: batch / timed[a][0] for a in ANCHORS}
    results = []
    for p in prepared:
        sec, rounds, iters = timed[p.name]
        ips = batch / sec
        results.append(Measurement(p.name, p.owner, batch, round(ips, 2), round(sec * 1e3, 2), rounds, iters,
                                   diffs[p.name], round(ips / anchor["tv-eager"], 3),
                                   round(ips / anchor["tv-ort"], 3), precision=p.precision,
                                   peak_fraction=_peak_fraction(ips, macs, p.precision)))
    return results


def _add_peak_memory(results: list[Measurement], prepared: list, spec: InferenceBench, model_kwargs: dict[str, Any],
                     input_size: int, work: Path, log: Callable[[str], None]) -> None:
    for p in prepared:
        log(f"peak memory: {p.name}")
        peaks = measure_peak_memory(spec.model_name, model_kwargs, p.name, list(spec.batches), input_size, work,
                                    spec.threads)
        for r in results:
            if r.backend == p.name:
                r.peak_mem_mib = peaks.get(r.batch)


def _peak_fraction(images_per_s: float, macs: float | None, precision: str) -> float | None:
    peak = peak_macs_per_s(precision)
    return None if not macs or not peak else round(images_per_s * macs / peak, 4)


def bench_inference(*args: Any, threads: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """:func:`_bench_inference` with ``threads`` intra-op threads (default: torch's), restored afterwards."""
    with torch_threads(threads) as n:
        return _bench_inference(InferenceBench(*args, threads=n, **kwargs))
