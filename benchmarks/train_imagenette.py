"""Train GoogLeNet on Imagenette with the photos recipe, beside the same model in a plain torchvision loop.

    python benchmarks/train_imagenette.py --data-dir ../shared/data            # both, one after the other
    python benchmarks/train_imagenette.py --data-dir ../shared/data --only ours
    python benchmarks/train_imagenette.py --data-dir ../shared/data lr=0.1 resize_schedule=128
    python benchmarks/train_imagenette.py --data-dir ../shared/data --steps 20      # step time, GFLOP/s, compile
    python benchmarks/train_imagenette.py --dataset PHOTOS.tar                     # any train/ + val/ photo set

The yardstick is Imagenette's public leaderboard: 87.43% val top-1 for 5 epochs at 128 px (xse_resnext50 on a
GPU, March 2021). The target here: >= 87.5% in 5 epochs at 128 px in <= 15 minutes of wall time on this 2-core
CPU, the decode-once cache build included (set-up excluded); docs/training.md#photos has what was measured.

``ours`` is ``googlenet train --dataset imagenette`` (the photos recipe, docs/training.md#photos): photos
decoded once into a memory-mapped uint8 cache, the recipe's augmentation (the whole photo resized, and flips)
applied to whole uint8 batches, channels_last, bf16 autocast where the CPU computes bf16 natively. It prints
val top-1, the wall time (cache build included), images/s and the input pipeline's share of a training step.

``plain`` is what a PyTorch user writes first: ``torchvision.datasets.ImageFolder`` on the unpacked
photos, ``transforms.v2`` (the recipe's resize or random-resized crop, flip, normalize) decoding every JPEG
every epoch, a ``DataLoader`` with 2 workers, the same model, optimizer (Ranger from pytorch-optimizer where
the recipe names it), batch, epochs, label smoothing, channels_last and autocast, and the recipe's schedule
from torch's own schedulers. Accuracy and time sit side by side.
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


def run_ours(data_dir: str, out: Path, overrides: dict, dataset: str = "imagenette") -> dict:
    """The photos recipe through the library, plus a measurement of the input pipeline's share."""
    config = make_config(dataset=dataset, data_dir=data_dir, out=str(out), **overrides)
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
    """Seconds to make one training batch from the cache, over the mean seconds of a training step (None for
    the fast recipe, whose small images are not cut from a photo cache)."""
    from googlenet.data import dataset_stats, load_dataset
    from googlenet.data.augment import RandomCrops
    from googlenet.data.cache import open_cache
    from googlenet.training.config import parse_sizes
    from googlenet.training.fastdata import PhotoBatches

    if config.input_size is None:
        return None
    stats = dataset_stats(config.dataset, data_dir=config.data_dir)
    train_set = load_dataset(config.dataset, "train", data_dir=config.data_dir, val_fraction=0.0)
    sizes = parse_sizes(config.resize_schedule) if config.resize_schedule else [config.input_size]
    flip = config.augment == "flip"  # as the trainer stores and crops (training/trainer.py, _photo_batches)
    store = open_cache(train_set, int(round(max(sizes + [config.input_size]) * (1.0 if flip else 1.125))), log=None)
    crops = RandomCrops((1.0, 1.0), (1.0, 1.0)) if flip else RandomCrops((config.crop_scale, 1.0))
    batches = PhotoBatches(train_set, store, out_size=config.input_size, augment=crops, mean=stats.mean,
                           std=stats.std)
    order = torch.randperm(len(train_set)).tolist()
    t0 = time.perf_counter()
    n = 20
    for k in range(n):
        batches.batch(order[k * config.batch_size:(k + 1) * config.batch_size], 0)
    per_batch = (time.perf_counter() - t0) / n
    steps = sum(math.floor(len(train_set) / config.batch_size) for _ in rows)
    per_step = sum(r["epoch_time_s"] for r in rows) / steps
    return per_batch / per_step


def unpack(data_dir: str, into: Path, dataset: str = "imagenette") -> Path:
    """ImageFolder needs files: a tarball unpacked (timed separately, not counted in the plain wall time), or a
    class-folder tree as it is. ``dataset``: imagenette (its tarball in ``data_dir``), a tarball or a folder."""
    source = Path(data_dir) / "imagenette-224.tar.gz" if dataset == "imagenette" else Path(dataset)
    if source.is_dir():
        return source
    with tarfile.open(source) as tf:
        tf.extractall(into, filter="data")
    roots = [p for p in into.rglob("train") if p.is_dir()]
    return roots[0].parent


def plain_transforms(config):
    """The recipe's augmentation as a torchvision user writes it: random-resized crops or the whole photo
    resized (``augment=flip``), flips, normalization; evaluation on the centre ``eval_crop`` of the photo."""
    from torchvision.transforms import v2

    from googlenet.data import IMAGENET_MEAN, IMAGENET_STD

    size = config.input_size
    norm = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if size is None or config.augment == "none":  # the fast recipe (small images): read as they are
        plain = v2.Compose([v2.ToImage(), *([v2.Resize((size, size), antialias=True)] if size else []), *norm])
        return plain, plain
    first = v2.Resize((size, size), antialias=True) if config.augment == "flip" else \
        v2.RandomResizedCrop(size, scale=(config.crop_scale, 1.0), antialias=True)
    train_tf = v2.Compose([v2.ToImage(), first, v2.RandomHorizontalFlip(), *norm])
    val_tf = v2.Compose([v2.ToImage(), v2.Resize(int(round(size / config.eval_crop)), antialias=True),
                         v2.CenterCrop(size), *norm])
    return train_tf, val_tf


def plain_optimizer(model, config):
    """The recipe's optimizer as its library gives it (torch.optim, or pytorch-optimizer's Ranger)."""
    if config.optimizer == "ranger":
        from pytorch_optimizer import Ranger

        return Ranger(model.parameters(), lr=config.lr, betas=(config.momentum, 0.999),
                      weight_decay=config.weight_decay, weight_decouple=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True,
                           weight_decay=config.weight_decay)


def plain_schedule(opt, config, steps_per_epoch: int):
    """The recipe's schedule from torch's own: OneCycleLR, or flat-then-cosine as two chained schedulers."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "flatcos":
        flat = int(total * config.flat_fraction)
        return torch.optim.lr_scheduler.SequentialLR(opt, [
            torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=flat),
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total - flat))], milestones=[flat])
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total,
                                               pct_start=config.warmup_epochs / config.epochs, anneal_strategy="cos")


def rgb(path: str):
    from PIL import Image

    with Image.open(path) as image:  # Imagenette has 242 greyscale photos
        return image.convert("RGB")


def run_plain(data_dir: str, config, dataset: str = "imagenette") -> dict:
    """The same model and schedule in the loop a PyTorch user writes first."""
    from torchvision import datasets

    from googlenet import create_model
    from googlenet.system.hardware import cpu_has_native_bf16

    with tempfile.TemporaryDirectory() as tmp:
        root = unpack(data_dir, Path(tmp), dataset)
        train_tf, val_tf = plain_transforms(config)
        train_set = datasets.ImageFolder(root / "train", train_tf, loader=rgb)
        val_set = datasets.ImageFolder(root / "val", val_tf, loader=rgb)
        loader = torch.utils.data.DataLoader(train_set, batch_size=config.batch_size, shuffle=True, num_workers=2,
                                             drop_last=True, persistent_workers=True)
        val_loader = torch.utils.data.DataLoader(val_set, batch_size=256, num_workers=2)
        torch.manual_seed(config.seed)
        kwargs = {k: v for k, v in config.model_kwargs.items() if k not in ("num_classes", "in_channels")}
        model = create_model(config.model, num_classes=len(train_set.classes), **kwargs)
        model = model.to(memory_format=torch.channels_last)
        opt = plain_optimizer(model, config)
        sched = plain_schedule(opt, config, len(loader))
        bf16 = config.amp == "native" and cpu_has_native_bf16()
        t0 = time.perf_counter()
        curve, seen = [], 0
        for epoch in range(config.epochs):
            model.train()
            for x, y in loader:
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = plain_loss(model(x), y, config)
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


def plain_loss(outputs, y, config):
    """Cross-entropy as a torchvision user writes it, with torchvision's reference for GoogLeNet's auxiliary
    heads when the model returns them in training mode: main + aux_weight x (aux1 + aux2)."""
    ce = torch.nn.functional.cross_entropy
    if isinstance(outputs, tuple):
        main, *aux = outputs
        return ce(main.float(), y, label_smoothing=config.label_smoothing) + config.aux_weight * sum(
            ce(a.float(), y, label_smoothing=config.label_smoothing) for a in aux)
    return ce(outputs.float(), y, label_smoothing=config.label_smoothing)


def step_benchmark(data_dir: str, dataset: str, overrides: dict, steps: int = 20, warmup: int = 5) -> dict:
    """Seconds per training step, ours (the library's trainer, ``compile`` off and on) against the plain loop
    on the same model, optimizer and batch, all in this run; each step's GFLOP/s against the CPU's peak."""
    from torch.utils.flop_counter import FlopCounterMode

    from googlenet import create_model
    from googlenet.system.hardware import cpu_has_native_bf16, peak_macs_per_s

    config = make_config(dataset=dataset, data_dir=data_dir, **overrides)
    bf16 = config.amp == "native" and cpu_has_native_bf16()
    kwargs = {k: v for k, v in config.model_kwargs.items() if k not in ("num_classes", "in_channels")}
    model = create_model(config.model, num_classes=10, **kwargs).to(memory_format=torch.channels_last)
    x = torch.randn(config.batch_size, 3, config.input_size, config.input_size).contiguous(
        memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter, torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        plain_loss(model(x), torch.zeros(len(x), dtype=torch.long), config).backward()
    flops = counter.get_total_flops()  # forward and backward, 2 per multiply-add
    peak, how = peak_macs_per_s("bf16" if bf16 else "fp32")
    out = {"batch": config.batch_size, "input_size": config.input_size, "bf16": bf16, "gflop_per_step": flops / 1e9,
           "peak": how, "results": []}
    for name, extra in (("ours", {}), ("ours --compile", {"compile": True})):
        times = _trainer_step_times(data_dir, dataset, {**overrides, **extra}, warmup + steps)
        out["results"].append(_step_row(name, times, warmup, flops, peak))
    out["results"].append(_step_row("plain torchvision loop", plain_step_times(data_dir, dataset, config,
                                                                              warmup + steps), warmup, flops, peak))
    return out


def _step_row(name: str, times: list[float], warmup: int, flops: float, peak: float | None) -> dict:
    import statistics

    steady = statistics.median(times[warmup:])
    return {"name": name, "step_s": steady, "first_steps_s": sum(times[:warmup]),
            "gflop_s": flops / steady / 1e9, "peak_fraction": (flops / 2 / steady / peak) if peak else None}


def _trainer_step_times(data_dir: str, dataset: str, overrides: dict, n: int) -> list[float]:
    """The library's own training step: ``googlenet train`` for ``n`` steps, timed between steps."""
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(dataset=dataset, data_dir=data_dir, out=str(Path(tmp) / "run"), max_steps=n,
                             eval_test=False, report=False, val_fraction=0.0, **overrides)
        start = time.perf_counter()
        train(config, on_step=lambda _: stamps.append(time.perf_counter()), quiet=True)
    return [b - a for a, b in zip([start, *stamps[:-1]], stamps, strict=True)][1:]  # the first holds the set-up


def plain_step_times(data_dir: str, dataset: str, config, n: int) -> list[float]:
    """The plain loop's step (its DataLoader's wait included), timed between steps."""
    from torchvision import datasets

    from googlenet import create_model
    from googlenet.system.hardware import cpu_has_native_bf16

    with tempfile.TemporaryDirectory() as tmp:
        root = unpack(data_dir, Path(tmp), dataset)
        train_tf, _ = plain_transforms(config)
        loader = torch.utils.data.DataLoader(datasets.ImageFolder(root / "train", train_tf, loader=rgb),
                                             batch_size=config.batch_size, shuffle=True, num_workers=2, drop_last=True)
        kwargs = {k: v for k, v in config.model_kwargs.items() if k not in ("num_classes", "in_channels")}
        model = create_model(config.model, num_classes=len(loader.dataset.classes), **kwargs)
        model = model.to(memory_format=torch.channels_last).train()
        opt = plain_optimizer(model, config)
        bf16 = config.amp == "native" and cpu_has_native_bf16()
        stamps = [time.perf_counter()]
        for x, y in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = plain_loss(model(x.contiguous(memory_format=torch.channels_last)), y, config)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            stamps.append(time.perf_counter())
            if len(stamps) > n:
                break
    return [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)][1:]


def print_steps(result: dict) -> None:
    print(f"\ntraining step at batch {result['batch']}, {result['input_size']} px, "
          f"{'bf16 autocast' if result['bf16'] else 'fp32'}: {result['gflop_per_step']:.1f} GFLOP per step "
          f"(flop_counter, forward + backward); peak: {result['peak']}")
    plain = next(r for r in result["results"] if r["name"].startswith("plain"))
    print(f"{'':24} {'step':>8} {'GFLOP/s':>8} {'of peak':>8} {'first 5':>8} {'vs plain':>9}")
    for r in result["results"]:
        frac = f"{100 * r['peak_fraction']:.1f}%" if r["peak_fraction"] is not None else "-"
        print(f"{r['name']:24} {r['step_s'] * 1e3:6.0f}ms {r['gflop_s']:8.1f} {frac:>8} {r['first_steps_s']:7.1f}s "
              f"{plain['step_s'] / r['step_s']:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("GOOGLENET_DATA"), help="folder of imagenette-224.tar.gz")
    parser.add_argument("--dataset", default="imagenette",
                        help="imagenette, or any tarball or folder of train/<class>/ and val/<class>/ photos")
    parser.add_argument("--out", default="runs/bench-imagenette", help="run folder of ours")
    parser.add_argument("--only", choices=("ours", "plain"), default=None)
    parser.add_argument("--steps", type=int, default=0,
                        help="time this many training steps of each (ours, ours with --compile, plain) instead of "
                             "whole trainings: step time, GFLOP/s and the CPU's peak")
    parser.add_argument("--json", default=None, help="also write the figures here")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="training settings for both")
    args = parser.parse_args()
    overrides = parse_overrides(args.overrides)
    load_before = os.getloadavg()[0]
    if args.steps:
        result = step_benchmark(args.data_dir, args.dataset, overrides, steps=args.steps)
        print_steps(result)
        print(f"load {load_before:.1f} before / {os.getloadavg()[0]:.1f} after")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        return
    results = []
    if args.only in (None, "ours"):
        results.append(run_ours(args.data_dir, Path(args.out), overrides, args.dataset))
    if args.only in (None, "plain"):
        config = make_config(dataset=args.dataset, data_dir=args.data_dir, **overrides)
        results.append(run_plain(args.data_dir, config, args.dataset))
    load_after = os.getloadavg()[0]
    print(f"\n{args.dataset} val top-1, 2 threads, load {load_before:.1f} before / {load_after:.1f} after")
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
