"""Train GoogLeNet on Imagenette with the photos recipe, beside the same model in a plain torchvision loop.

    python benchmarks/train_imagenette.py --data-dir ../shared/data            # both, one after the other
    python benchmarks/train_imagenette.py --data-dir ../shared/data --only ours
    python benchmarks/train_imagenette.py --data-dir ../shared/data lr=0.1 resize_schedule=128

The yardstick is Imagenette's public leaderboard: 85.77% val top-1 for 5 epochs at 128 px (a GPU run of an
xresnet). The target here: >= 85.8% in 5 epochs at <= 128 px in <= 15 minutes of wall time on this 2-core
CPU, the decode-once cache build included (set-up excluded).

``ours`` is ``googlenet train --dataset imagenette`` (the photos recipe, docs/training.md#photos): photos
decoded once into a memory-mapped uint8 cache, random-resized crops and flips applied to whole uint8
batches, channels_last, bf16 autocast where the CPU computes bf16 natively. It prints val top-1, the wall
time (cache build included), images/s and the input pipeline's share of a training step.

``plain`` is what a PyTorch user writes first: ``torchvision.datasets.ImageFolder`` on the unpacked
photos, ``transforms.v2`` (RandomResizedCrop, flip, normalize) decoding every JPEG every epoch, a
``DataLoader`` with 2 workers, the same model, optimizer, batch, epochs, label smoothing, channels_last
and autocast, and torch's ``OneCycleLR`` (the same peak and warm-up). Accuracy and time sit side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from googlenet.training import make_config, train  # noqa: E402


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run_ours(data_dir: str, out: Path, overrides: dict) -> dict:
    """The photos recipe through the library, plus a measurement of the input pipeline's share."""
    config = make_config(dataset="imagenette", data_dir=data_dir, out=str(out), **overrides)
    t0 = time.perf_counter()
    summary = train(config)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    share = pipeline_share(config, rows)
    return {"name": "ours (photos recipe)", "val_top1": rows[-1]["val_top1"], "wall_s": wall,
            "images_per_s": sum(r["images_per_s"] for r in rows) / len(rows), "pipeline_share": share,
            "curve": [(round(sum(row["epoch_time_s"] for row in rows[: i + 1]), 1), rows[i]["val_top1"])
                      for i in range(len(rows))],
            "config": config.to_dict(), "summary": summary}


def pipeline_share(config, rows: list[dict]) -> float:
    """Seconds to make one training batch from the cache, over the mean seconds of a training step."""
    from googlenet.data import dataset_stats, load_dataset
    from googlenet.data.cache import open_cache
    from googlenet.training.config import parse_sizes
    from googlenet.training.fastdata import PhotoBatches

    stats = dataset_stats("imagenette")
    train_set = load_dataset("imagenette", "train", data_dir=config.data_dir, val_fraction=0.0)
    sizes = parse_sizes(config.resize_schedule) if config.resize_schedule else [config.input_size]
    store = open_cache(train_set, int(round(max(sizes + [config.input_size]) * 1.125)), log=None)
    batches = PhotoBatches(train_set, store, out_size=config.input_size, augment=True, mean=stats.mean,
                           std=stats.std, scale=(config.crop_scale, 1.0))
    order = torch.randperm(len(train_set)).tolist()
    t0 = time.perf_counter()
    n = 20
    for k in range(n):
        batches.batch(order[k * config.batch_size:(k + 1) * config.batch_size], 0)
    per_batch = (time.perf_counter() - t0) / n
    steps = sum(math.floor(len(train_set) / config.batch_size) for _ in rows)
    per_step = sum(r["epoch_time_s"] for r in rows) / steps
    return per_batch / per_step


def unpack(data_dir: str, into: Path) -> Path:
    """ImageFolder needs files: the tarball unpacked (timed separately, not counted in the plain wall time)."""
    with tarfile.open(Path(data_dir) / "imagenette-224.tar.gz") as tf:
        tf.extractall(into, filter="data")
    roots = [p for p in into.rglob("train") if p.is_dir()]
    return roots[0].parent


def rgb(path: str):
    from PIL import Image

    with Image.open(path) as image:  # Imagenette has 242 greyscale photos
        return image.convert("RGB")


def run_plain(data_dir: str, config) -> dict:
    """The same model and schedule in the loop a PyTorch user writes first."""
    from torchvision import datasets
    from torchvision.transforms import v2

    from googlenet import create_model
    from googlenet.data import IMAGENET_MEAN, IMAGENET_STD
    from googlenet.system.hardware import cpu_has_native_bf16

    with tempfile.TemporaryDirectory() as tmp:
        root = unpack(data_dir, Path(tmp))
        size = config.input_size
        norm = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
        train_tf = v2.Compose([v2.ToImage(), v2.RandomResizedCrop(size, scale=(config.crop_scale, 1.0),
                                                                  antialias=True), v2.RandomHorizontalFlip(), *norm])
        val_tf = v2.Compose([v2.ToImage(), v2.Resize(int(round(size / 0.875)), antialias=True), v2.CenterCrop(size),
                             *norm])
        train_set = datasets.ImageFolder(root / "train", train_tf, loader=rgb)
        val_set = datasets.ImageFolder(root / "val", val_tf, loader=rgb)
        loader = torch.utils.data.DataLoader(train_set, batch_size=config.batch_size, shuffle=True, num_workers=2,
                                             drop_last=True, persistent_workers=True)
        val_loader = torch.utils.data.DataLoader(val_set, batch_size=256, num_workers=2)
        torch.manual_seed(config.seed)
        model = create_model("googlenet", num_classes=10, **{k: v for k, v in config.model_kwargs.items()
                                                              if k not in ("num_classes", "in_channels")})
        model = model.to(memory_format=torch.channels_last)
        if config.optimizer == "adamw":  # the recipe's optimizer, as torch.optim gives it
            opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True,
                                  weight_decay=config.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.epochs * len(loader),
                                                    pct_start=config.warmup_epochs / config.epochs,
                                                    anneal_strategy="cos")
        bf16 = config.amp == "native" and cpu_has_native_bf16()
        t0 = time.perf_counter()
        curve, seen = [], 0
        for epoch in range(config.epochs):
            model.train()
            for x, y in loader:
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = torch.nn.functional.cross_entropy(model(x).float(), y,
                                                             label_smoothing=config.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                seen += len(y)
            model.eval()
            correct = total = 0
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                for x, y in val_loader:
                    correct += int((model(x.contiguous(memory_format=torch.channels_last)).argmax(1) == y).sum())
                    total += len(y)
            curve.append((round(time.perf_counter() - t0, 1), 100 * correct / total))
            print(f"plain epoch {epoch + 1}/{config.epochs}: val top-1 {curve[-1][1]:.2f}% at {curve[-1][0]:.0f} s",
                  flush=True)
        wall = time.perf_counter() - t0
    return {"name": "plain torchvision loop", "val_top1": curve[-1][1], "wall_s": wall, "images_per_s": seen / wall,
            "pipeline_share": None, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("GOOGLENET_DATA"), help="folder of imagenette-224.tar.gz")
    parser.add_argument("--out", default="runs/bench-imagenette", help="run folder of ours")
    parser.add_argument("--only", choices=("ours", "plain"), default=None)
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="training settings for both")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    load_before = os.getloadavg()[0]
    results = []
    if args.only in (None, "ours"):
        results.append(run_ours(args.data_dir, Path(args.out), overrides))
    if args.only in (None, "plain"):
        config = make_config(dataset="imagenette", data_dir=args.data_dir, **overrides)
        results.append(run_plain(args.data_dir, config))
    load_after = os.getloadavg()[0]
    print(f"\nImagenette val top-1 (3,925 images), 2 threads, load {load_before:.1f} before / {load_after:.1f} after")
    print(f"{'':24} {'val top-1':>9} {'wall':>8} {'img/s':>6} {'pipeline':>8}")
    for r in results:
        share = f"{100 * r['pipeline_share']:.1f}%" if r["pipeline_share"] is not None else "-"
        print(f"{r['name']:24} {r['val_top1']:8.2f}% {r['wall_s']:7.0f}s {r['images_per_s']:6.0f} {share:>8}")
        print(f"{'':24} curve (s, val top-1): {r['curve']}")
    if len(results) == 2:
        print(f"ours / plain wall time: {results[0]['wall_s'] / results[1]['wall_s']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "load": [load_before, load_after]}, indent=1,
                                              default=str))


if __name__ == "__main__":
    main()
