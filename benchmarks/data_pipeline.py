"""The photo input pipeline against a GoogLeNet training step: is it under 10% of the step?

Builds (or reuses) the decoded cache of Imagenette train at ``--cache-size`` (144 px) in
``$GOOGLENET_CACHE`` (default ~/.cache/googlenet), then times on ``--threads`` threads (2):

* the cache build (when it was not there yet) and the time to reopen it;
* one augmented batch of ``--batch`` (128) at ``--size`` (128): the memmap gather, the crops + resizes
  (per-image uint8 channels-last ``F.interpolate``, what googlenet.data.augment uses) and the
  normalization -- and, for the record, the alternatives: ``torchvision.ops.roi_align`` (all crops in
  one call) and ``transforms.v2.functional.resized_crop`` per image;
* a training step (forward, backward, SGD) of full-width GoogLeNet with batch norm, no LRN, no aux
  heads, at the same batch and size, channels-last;

and prints the pipeline's share of the step.

    python benchmarks/data_pipeline.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import time


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="folder holding imagenette-224.tar.gz (else $GOOGLENET_DATA)")
    p.add_argument("--cache-size", type=int, default=144)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--steps", type=int, default=3, help="timed training steps (each takes seconds)")
    args = p.parse_args()

    import torch
    import torch.nn.functional as F
    from torchvision.ops import roi_align
    from torchvision.transforms.v2 import functional as TF

    torch.set_num_threads(args.threads)
    from googlenet.data import dataset_stats, load_dataset
    from googlenet.data.augment import normalize_batch, resized_crop_batch, sample_crops
    from googlenet.data.cache import open_cache
    from googlenet.models.registry import create_model
    from googlenet.training.fastdata import PhotoBatches

    stats = dataset_stats("imagenette")
    train = load_dataset("imagenette", "train", data_dir=args.data_dir)
    t = time.perf_counter()
    store = open_cache(train, args.cache_size)
    first = time.perf_counter() - t
    t = time.perf_counter()
    open_cache(train, args.cache_size, log=None)
    reopen = time.perf_counter() - t
    print(f"cache: {len(store):,} images at {args.cache_size} px, first open {first:.1f} s (includes the build if it "
          f"was not there), reopen {reopen * 1e3:.0f} ms")

    n, s, out = args.batch, args.cache_size, args.size
    g = torch.Generator().manual_seed(0)
    rows = torch.randperm(len(store), generator=g)[:n]
    x = store[rows]
    params = sample_crops(n, s, generator=g)
    pb = PhotoBatches(train, store, out_size=out, augment=True, mean=stats.mean, std=stats.std, seed=0)
    positions = torch.randperm(len(train), generator=g)[:n].tolist()

    boxes = torch.stack([torch.arange(n, dtype=torch.float32), params.left.float(), params.top.float(),
                         (params.left + params.width).float(), (params.top + params.height).float()], 1)
    figures = {
        "gather (memmap rows)": _median_ms(lambda: store[rows], args.repeats),
        "crop+resize+flip (uint8 channels-last, used)": _median_ms(lambda: resized_crop_batch(x, params, out),
                                                                   args.repeats),
        "normalize to float": _median_ms(lambda: normalize_batch(resized_crop_batch(x, params, out), stats.mean,
                                                                 stats.std), args.repeats),
        "roi_align, 1 sample/bin (alternative)": _median_ms(
            lambda: roi_align(x.float(), boxes, (out, out), 1.0, sampling_ratio=1, aligned=True), args.repeats),
        "roi_align, 2 samples/bin (alternative)": _median_ms(
            lambda: roi_align(x.float(), boxes, (out, out), 1.0, sampling_ratio=2, aligned=True), args.repeats),
        "v2 resized_crop per image (alternative)": _median_ms(lambda: torch.stack([
            TF.resized_crop(x[i], int(params.top[i]), int(params.left[i]), int(params.height[i]),
                            int(params.width[i]), [out, out], antialias=True) for i in range(n)]), 3),
    }
    figures["normalize to float"] -= figures["crop+resize+flip (uint8 channels-last, used)"]
    pipeline = _median_ms(lambda: pb.batch(positions, 0), args.repeats)

    model = create_model("googlenet", num_classes=10, batch_norm=True, lrn=False, aux_logits=False, width=1)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xb, yb = pb.batch(positions, 0)

    def step() -> None:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step_ms = _median_ms(step, args.steps)

    from googlenet.system.hardware import cpu_name

    print(f"host: {cpu_name()}, {args.threads} threads, torch {torch.__version__}")
    print(f"batch {n} at {out} px from the {s}-px cache:")
    for k, v in figures.items():
        print(f"  {k:<46} {v:8.1f} ms")
    print(f"  {'whole pipeline (PhotoBatches.batch)':<46} {pipeline:8.1f} ms")
    print(f"training step (googlenet, batch_norm, no lrn, no aux, width 1, channels-last): {step_ms:8.1f} ms "
          f"({n / step_ms * 1e3:.1f} img/s)")
    share = pipeline / (pipeline + step_ms)
    print(f"pipeline share of a step: {share:.1%} ({'under' if share < 0.10 else 'OVER'} the 10% target)")


if __name__ == "__main__":
    main()
