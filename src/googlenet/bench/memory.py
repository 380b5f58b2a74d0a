"""Peak memory of a backend: the peak RSS of a fresh process that builds it and runs each batch size."""


from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .backends import prepare_backends
from .inputs import build_pair


def _status_mib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs), so the peak measured
    next counts what the backend keeps (weights, sessions) and what running it takes, not building it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover
        pass


def _probe_main(argv: Sequence[str] | None = None) -> None:
    """Child process of :func:`measure_peak_memory`: build one backend, run it, print peak RSS deltas."""
    import onnxruntime  # noqa: F401  (counted in the baseline)

    spec = json.loads((argv or sys.argv[1:])[0])
    torch.set_num_threads(spec["threads"])
    base = _rss_mib()
    ours, tv = build_pair(spec["model"], spec["model_kwargs"])
    in_channels = getattr(ours, "in_channels", 3)
    (prepared,) = prepare_backends([spec["backend"]], ours, tv, workdir=Path(spec["workdir"]),
                                   input_size=spec["input_size"], threads=spec["threads"])
    del ours, tv
    gc.collect()
    _reset_peak_rss()
    peaks = {}
    for batch in sorted(spec["batches"]):
        x = torch.randn(batch, in_channels, spec["input_size"], spec["input_size"])
        run = prepared.make(x)
        for _ in range(2):
            run()
        # VmHWM is the process's RSS high-water mark; batches run in increasing order.
        peaks[batch] = round(_status_mib("VmHWM") - base, 1)
    print(json.dumps(peaks))


def measure_peak_memory(model_name: str, model_kwargs: dict[str, Any], backend: str, batches: list[int],
                        input_size: int, workdir: Path, threads: int) -> dict[int, float]:
    """Peak RSS growth (MiB) of a fresh process building ``backend`` and running it at each batch."""
    spec = {"model": model_name, "model_kwargs": model_kwargs, "backend": backend, "batches": batches,
            "input_size": input_size, "workdir": str(workdir), "threads": threads}
    src = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", "from googlenet.bench.memory import _probe_main; _probe_main()",
                           json.dumps(spec)], capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        return {}
    try:
        return {int(k): v for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    except (ValueError, IndexError):
        return {}
