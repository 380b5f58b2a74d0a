"""Interleaved timing: every backend measured in rounds beside the anchors, medians reported."""


from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: Pause before each timed stretch of a backend, so the previous backend's spinning threads have gone idle.
SETTLE_SECONDS = 0.2
Run = Callable[[], Any]


@dataclass
class Measurement:
    backend: str
    owner: str
    batch: int
    images_per_s: float
    ms_per_batch: float
    rounds: int
    iters_per_round: int
    max_abs_diff: float | None = None
    vs_tv_eager: float | None = None
    vs_tv_ort: float | None = None
    peak_mem_mib: float | None = None
    precision: str = "fp32"
    #: images/s x the model's multiply-adds / the CPU's peak at this precision (bench.machine.peak_macs_per_s).
    peak_fraction: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_interleaved(runs: dict[str, Run], *, batch: int, seconds: float, warmup: int = 2,
                     min_rounds: int = 3) -> dict[str, tuple[float, int, int]]:
    """Median seconds per call of each run, measured in interleaved rounds within about ``seconds``.

    Returns ``{name: (median_seconds_per_call, rounds, iterations_per_round)}``.
    """
    per_call: dict[str, float] = {}
    for name, run in runs.items():  # warm-up, and a first estimate of the cost of one call
        for _ in range(warmup):
            run()
        t0 = time.perf_counter()
        run()
        per_call[name] = time.perf_counter() - t0
    round_cost = sum(per_call.values())
    rounds = max(min_rounds, min(15, int(seconds / max(round_cost, 1e-6) / 1.5)))
    budget_per_backend = seconds / max(rounds, 1) / max(len(runs), 1)
    iters = {name: max(1, min(50, int(budget_per_backend / max(c, 1e-6)))) for name, c in per_call.items()}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            # ONNX Runtime's (and OpenMP's) worker threads spin for a while after a call returns; without a
            # pause they steal the cores from the next backend, which had every ORT backend but the anchor
            # (which follows torchvision's eager model) at a disadvantage (docs/performance.md, "Quiet-machine
            # figures (AVX2 host: 2026-11-23 19:40 UTC)").
            time.sleep(SETTLE_SECONDS)
            t0 = time.perf_counter()
            for _ in range(iters[name]):
                run()
            samples[name].append((time.perf_counter() - t0) / iters[name])
    return {name: (statistics.median(s), rounds, iters[name]) for name, s in samples.items()}
