"""Where ``googlenet eval`` spends its time on photos, beside the bench's figure for the same backend, size and
batch (docs/performance.md "Eval beside the bench").

Builds an untrained photos-shaped model (GoogLeNet with batch norm, no LRN, 10 classes; the accuracy is beside
the point, the arithmetic is the photos model's), evaluates the first ``--limit`` Imagenette val photos under
cProfile, groups the time by stage (decode, crop and resize, normalize/copy, forward pass, softmax and the
rest) and times the same backend with ``googlenet bench`` at the same size and batch. Keep ``--limit`` small:
the host is shared.

    python benchmarks/eval_profile.py --data-dir /work/shared/data --size 128 --limit 320 --backend ort
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import pstats
import tempfile
from pathlib import Path

import torch

import googlenet
from googlenet.bench import bench_inference
from googlenet.evaluation import EvalOptions, evaluate
from googlenet.weights.checkpoint import save_model

KWARGS = dict(num_classes=10, batch_norm=True, lrn=False, aux_logits=False)
#: (stage, substrings of the profiled functions' file:function that belong to it), first match wins.
STAGES = (("decode (libjpeg-turbo, PIL)", ("PIL", "decode", "images.py", "archives.py", "tarfile")),
          ("crop and resize", ("crops.py", "resize", "interpolate", "center_crop", "views")),
          ("forward pass", ("onnxruntime", "openvino", "session", "runner", "backends/", "fusion")),
          ("normalize and copy", ("normalize", "_as_float", "prepare", "cat", "to(")),
          ("softmax", ("softmax",)))


def photos_model(folder: Path, size: int) -> Path:
    from googlenet.data import IMAGENET_MEAN, IMAGENET_STD
    from googlenet.data.archives import IMAGENETTE_WNIDS, display_names

    torch.manual_seed(0)
    model = googlenet.create_model("googlenet", **KWARGS).eval()
    pre = {"input_size": size, "resize": round(size * 256 / 224), "mean": list(IMAGENET_MEAN),
           "std": list(IMAGENET_STD), "channels": 3, "dataset": "imagenette"}
    return save_model(folder / f"photos{size}.safetensors", model, model_name="googlenet", model_kwargs=KWARGS,
                      class_names=list(display_names(IMAGENETTE_WNIDS)), preprocessing=pre)


@contextlib.contextmanager
def per_file_decode():
    """Eval as it was before the batched decode: every photo through the dataset's own ``data[i]`` (Pillow)."""
    from googlenet.evaluation import runner

    def one_by_one(data, positions):
        pairs = [data[i] for i in positions]
        return [torch.as_tensor(x).as_subclass(torch.Tensor) for x, _ in pairs], [int(y) for _, y in pairs]

    saved, runner.decode_batch = runner.decode_batch, one_by_one
    try:
        yield
    finally:
        runner.decode_batch = saved


def stages(profile: cProfile.Profile) -> dict[str, float]:
    """Self time (tottime) of every profiled function, summed per stage."""
    out = {name: 0.0 for name, _ in STAGES} | {"other": 0.0}
    for (file, _, func), (_, _, tottime, _, _) in pstats.Stats(profile).stats.items():
        where = f"{file}:{func}"
        stage = next((name for name, keys in STAGES if any(k in where for k in keys)), "other")
        out[stage] += tottime
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--limit", type=int, default=320)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crops", type=int, default=1)
    p.add_argument("--backend", default="ort")
    p.add_argument("--seconds", type=float, default=6.0, help="the bench's timing budget")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = photos_model(Path(tmp), args.size)
        options = EvalOptions(split="val", data_dir=args.data_dir, crops=args.crops, limit=args.limit,
                              batch_size=args.batch, crop_batch=args.batch, backend=args.backend, compare=False)
        evaluate([path], "imagenette", options, limit=8)  # warm: the archive's index, the backend's first calls
        result = evaluate([path], "imagenette", options)  # not profiled: the figure beside the bench
        with per_file_decode():
            per_file = evaluate([path], "imagenette", options)
        profile = cProfile.Profile()
        profile.enable()
        evaluate([path], "imagenette", options)
        profile.disable()
    bench = bench_inference("googlenet", backends=[args.backend], batches=[args.batch], input_size=args.size,
                            seconds=args.seconds, memory=False, model_kwargs=KWARGS, data_dir=args.data_dir)
    row = next(r for r in bench["results"] if r["backend"] == args.backend)
    crops_per_s = result.images_per_second * result.cost
    print(json.dumps({"size": args.size, "crops": args.crops, "batch": args.batch, "backend": args.backend,
                      "eval_images": result.metrics.num_images, "eval_seconds": round(result.seconds, 2),
                      "eval_crops_per_s": round(crops_per_s, 1), "bench_images_per_s": row["images_per_s"],
                      "eval_vs_bench": round(crops_per_s / row["images_per_s"], 3),
                      "per_file_decode_vs_bench": round(per_file.images_per_second * per_file.cost
                                                        / row["images_per_s"], 3),
                      "stages_s (profiled run)": stages(profile),
                      "load": [bench["load_before"], bench["load_after"]]}, indent=1))
    pstats.Stats(profile).sort_stats("tottime").print_stats(14)


if __name__ == "__main__":
    main()
