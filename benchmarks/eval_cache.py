"""Eval of a whole split the first time (decoding every photo, keeping the views) and the next time (reading the
kept views), beside the bench's figure for the same backend, size and batch (docs/performance.md "A decoded
cache for eval").

Builds the untrained photos-shaped model of ``eval_profile.py`` (the arithmetic of the photos model), then for
each backend: a first evaluation of all of Imagenette's val photos with an empty cache folder (it decodes and
keeps the views), a second (it reads them), the bench at the same batch, and the second once more, so that a
drift of the machine shows. One process, the cache in a temporary folder that is removed at the end.

    python benchmarks/eval_cache.py --data-dir ../shared/data --size 224 --backend openvino-int8 --backend ort
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from eval_profile import KWARGS, photos_model

from googlenet.bench import bench_inference
from googlenet.evaluation import EvalOptions, evaluate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--backend", action="append", default=None, help="repeatable (default: ort)")
    p.add_argument("--seconds", type=float, default=10.0, help="the bench's timing budget per backend")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = photos_model(Path(tmp), args.size)
        for backend in args.backend or ["ort"]:
            cache = Path(tmp) / f"cache-{backend}"
            os.environ["GOOGLENET_CACHE"] = str(cache)
            options = EvalOptions(split="val", data_dir=args.data_dir, batch_size=args.batch, crop_batch=args.batch,
                                  backend=backend, compare=False)
            evaluate([path], "imagenette", options, limit=8, cache=False)  # the archive's index, first calls
            first = evaluate([path], "imagenette", options)
            kept = sorted((cache / "images").glob("*-views-*.npy"))
            second = evaluate([path], "imagenette", options)
            bench = bench_inference("googlenet", backends=[backend], batches=[args.batch], input_size=args.size,
                                    seconds=args.seconds, memory=False, model_kwargs=KWARGS, data_dir=args.data_dir)
            forward = next(r for r in bench["results"] if r["backend"] == backend)["images_per_s"]
            third = evaluate([path], "imagenette", options)
            shutil.rmtree(cache, ignore_errors=True)
            rows.append({"backend": backend, "size": args.size, "batch": args.batch,
                         "images": first.metrics.num_images, "kept_views": [k.name for k in kept],
                         "first_eval_img_s": round(first.images_per_second, 1),
                         "second_eval_img_s": round(second.images_per_second, 1),
                         "third_eval_img_s": round(third.images_per_second, 1), "bench_img_s": forward,
                         "first_vs_bench": round(first.images_per_second / forward, 3),
                         "second_vs_bench": round(second.images_per_second / forward, 3),
                         "third_vs_bench": round(third.images_per_second / forward, 3),
                         "same_top1": first.metrics.top1 == second.metrics.top1 == third.metrics.top1,
                         "load_after": bench["load_after"]})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
