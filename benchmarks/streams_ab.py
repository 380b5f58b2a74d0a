"""Streams on and off, interleaved: eval's crops/s and the forward pass's img/s at batch 32 (docs/performance.md
"Streams, and the bench again").

Builds the photos-shaped model of ``eval_profile.py``. Then, in rounds, with streams off (every batch one call
on every thread) and on, it evaluates the first ``--limit`` Imagenette val photos and times 3 s of forward
passes on a fixed batch of real photos. It prints the medians over the rounds.

    python benchmarks/streams_ab.py --data-dir ../shared/data --size 128 --backend ort --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from eval_profile import KWARGS, photos_model

import googlenet
import googlenet.deploy.backends.base as streams_module
from googlenet.bench.inputs import real_images
from googlenet.deploy.backends import build_backend
from googlenet.evaluation import EvalOptions, evaluate

#: (MIN_IMAGES_PER_STREAM, PARTS_PER_STREAM): "off" never splits a batch.
VARIANTS = {"off": (10**9, 1), "one part a stream": (streams_module.MIN_IMAGES_PER_STREAM, 1),
            "on (the default)": (streams_module.MIN_IMAGES_PER_STREAM, streams_module.PARTS_PER_STREAM)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--limit", type=int, default=640)
    p.add_argument("--backend", default="ort")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    path = photos_model(Path(tempfile.mkdtemp()), args.size)
    options = EvalOptions(split="val", data_dir=args.data_dir, crops=1, limit=args.limit, batch_size=32,
                          crop_batch=32, backend=args.backend, compare=False)
    evaluate([path], "imagenette", options, limit=8)  # warm: the archive's index, the backend's first calls
    torch.manual_seed(0)
    x = real_images(32, args.size, data_dir=args.data_dir)
    backend = build_backend(args.backend, googlenet.create_model("googlenet", **KWARGS).eval(),
                            crop_size=args.size, channels=3, calibration=x, threads=torch.get_num_threads())
    evals: dict[str, list[float]] = {k: [] for k in VARIANTS}
    forwards: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for _ in range(args.rounds):
        for name, (least, parts) in VARIANTS.items():
            streams_module.MIN_IMAGES_PER_STREAM, streams_module.PARTS_PER_STREAM = least, parts
            evals[name].append(evaluate([path], "imagenette", options).images_per_second)
            backend(x)
            time.sleep(0.2)
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < 3:
                backend(x)
                n += 1
            forwards[name].append(32 * n / (time.perf_counter() - t0))
    off = statistics.median(forwards["off"])
    for name in VARIANTS:
        e, f = statistics.median(evals[name]), statistics.median(forwards[name])
        print(f"{args.backend} {args.size} px, {name:18s} eval {e:6.1f} crops/s, forward {f:6.1f} img/s "
              f"({f / off:.3f}x off), eval/forward {e / f:.3f}")


if __name__ == "__main__":
    main()
