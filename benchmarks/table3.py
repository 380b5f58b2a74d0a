"""Reproduce GoogLeNet's Table 3 (section 7) on real data: K models x {1, 10, 144} crops.

The paper trained 7 GoogLeNets that "only differ in sampling methodologies and the random order in
which they see input images", averaged their softmax outputs over 1, 10 or 144 crops, and reported
top-5 error against cost (models x crops, forward passes per image):

    models  crops  cost  top-5 error  compared to base
         1      1     1       10.07%   base
         1     10    10        9.15%   -0.92%
         1    144   144        7.89%   -2.18%
         7      1     7        8.09%   -1.98%
         7     10    70        7.62%   -2.45%
         7    144  1008        6.67%   -3.45%

This script does the same on a small dataset: it trains K models of one network with seeds 0..K-1
(different initialization, augmentation draws and image order), saves each as a model file, then
evaluates every combination of {1, 10, 144} crops x the first {1..K} models, and prints the table.
Training uses scale augmentation (random-resized crops and mirrors, section 6) so that the test crops
at several scales look like training images. It is a deliberately short schedule: a CPU budget, not
the paper's. Every cell can be re-checked with ``googlenet eval`` on the saved model files.

    python benchmarks/table3.py --models 3 --epochs 2 --train-limit 20000 --test-limit 1000 --out runs/table3

On photos (Imagenette) the models are the photo recipe's (``googlenet.training.train``, decode-once cache,
bf16): either trained here, one run folder per seed under ``--out``, or given as ``--checkpoints`` (the
baseline runs of benchmarks/ablations.py, which trains them with seeds 0..6). Evaluation runs on
``--backend`` (default ``auto``: ONNX Runtime fp32 on the CPU) and the table says which:

    python benchmarks/ablations.py --only baseline --seeds 7 --epochs 3 --input-size 112 --width 0.5
    python benchmarks/table3.py --dataset imagenette --split val --test-limit 0 \
        --checkpoints runs/ablations/baseline/seed{0..6} --report docs/table3-imagenette.md

Use ``--threads 1`` on a shared machine: OpenMP threads of several processes spinning on the same
cores made this machine's training 8x slower with 2 threads than with 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from googlenet import create_model
from googlenet.data import dataset_stats, load_dataset, small_image_datasets, train_transform
from googlenet.data.augment import RandomCrops
from googlenet.evaluation import Ensemble, Metrics
from googlenet.evaluation.crops import SINGLE_SCALE, scaled
from googlenet.evaluation.runner import check_classes, dataset_probabilities
from googlenet.models.outputs import split_outputs
from googlenet.system.files import atomic_write_text
from googlenet.system.text import format_table, markdown_table
from googlenet.weights.checkpoint import save_model

# Section 5: "the loss of the auxiliary classifiers was weighted by 0.3".
AUX_WEIGHT = 0.3
#: The default width of the small-image models (Fashion-MNIST, CIFAR-10): minutes of CPU training each.
SMALL_IMAGE_WIDTH = 0.0625
PAPER_TABLE_3 = {(1, 1): 10.07, (1, 10): 9.15, (1, 144): 7.89, (7, 1): 8.09, (7, 10): 7.62, (7, 144): 6.67}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default="googlenet")
    p.add_argument("--width", type=float, default=None,
                   help="channel-width multiplier (default: 1/16 on small images, the recipe's on photos)")
    p.add_argument("--models", type=int, default=3, help="K: models trained with seeds 0..K-1")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--train-limit", type=int, default=20000, help="train on this many images (fixed subset)")
    p.add_argument("--test-limit", type=int, default=1000, help="evaluate the first N test images (0: all)")
    p.add_argument("--min-area", type=float, default=0.25, help="smallest random-crop area (paper: 0.08)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/table3", help="folder for the model files")
    p.add_argument("--reuse", action="store_true", help="evaluate model files already in --out")
    p.add_argument("--split", default="test", help="split evaluated (Imagenette has train and val)")
    p.add_argument("--checkpoints", nargs="+", default=None,
                   help="model files or run folders to evaluate (members 1..K in this order); skips training")
    p.add_argument("--input-size", type=int, default=None, help="photos: training crop side (default the recipe's)")
    p.add_argument("--backend", default="auto", help="auto, torch, ort or int8 (googlenet.deploy.backends)")
    p.add_argument("--crop-batch", type=int, default=64, help="crops per forward pass (224-px equivalents)")
    p.add_argument("--report", default=None, help="also write the table as markdown to this file")
    args = p.parse_args(argv)
    if args.test_limit is not None and args.test_limit <= 0:
        args.test_limit = None  # 0: the whole split
    return args


def train_one(seed: int, args: argparse.Namespace, stats, train_data, out: Path) -> Path:
    """One model: SGD with Nesterov momentum 0.9 (section 6 uses momentum 0.9), cosine learning rate."""
    path = out / f"seed{seed}.safetensors"
    if args.reuse and path.is_file():
        return path
    torch.manual_seed(seed)
    kwargs = dict(num_classes=stats.num_classes, in_channels=stats.channels, small_input=True, width=args.width)
    model = create_model(args.model, **kwargs)
    loader = torch.utils.data.DataLoader(train_data, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(seed), num_workers=0)
    steps = args.epochs * len(loader)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=2e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    model.train()
    started, step = time.perf_counter(), 0
    for epoch in range(args.epochs):
        total, correct, loss_sum = 0, 0, 0.0
        for x, y in loader:
            main, aux = split_outputs(model(x))
            loss = F.cross_entropy(main, y) + AUX_WEIGHT * sum((F.cross_entropy(a, y) for a in aux), torch.zeros(()))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if not math.isfinite(loss.item()):
                sys.exit(f"seed {seed}: loss became {loss.item()} at step {step}; lower --lr")
            total += y.numel()
            correct += (main.argmax(1) == y).sum().item()
            loss_sum += loss.item() * y.numel()
        print(f"  seed {seed} epoch {epoch + 1}/{args.epochs}: loss {loss_sum / total:.3f}, train acc "
              f"{100 * correct / total:.1f}% ({time.perf_counter() - started:.0f}s)", flush=True)
    # Trained on random-resized crops (section 6) like an ImageNet model, so tested like one: 1 and 10 crops
    # from the image enlarged to 256/224 of the crop (32 for 28), not the whole image.
    preprocessing = dataclasses.replace(stats.preprocessing(stats.image_size),
                                        resize=scaled(SINGLE_SCALE, stats.image_size))
    save_model(path, model, model_name=args.model, model_kwargs=kwargs, class_names=list(stats.classes),
               preprocessing=preprocessing, extra={"seed": seed, "epochs": args.epochs})
    return path


def train_photo_models(args: argparse.Namespace, out: Path) -> list[Path]:
    """Photos: K runs of the photo recipe through the library (seeds 0..K-1), each in its own run folder;
    a finished run (summary.json) is kept, so the script can be rerun after an interruption."""
    from googlenet.training import make_config, train

    paths = []
    for seed in range(args.models):
        run = out / f"seed{seed}"
        if not (run / "summary.json").is_file():
            train(make_config(recipe="photos", dataset=args.dataset, data_dir=args.data_dir, out=str(run),
                              seed=seed, epochs=args.epochs, input_size=args.input_size, resize_schedule="",
                              threads=args.threads, model_kwargs={"width": args.width} if args.width else None))
        paths.append(run)
    return paths


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.checkpoints or args.dataset not in small_image_datasets():
        t0 = time.perf_counter()
        paths = [Path(c) for c in args.checkpoints] if args.checkpoints else train_photo_models(args, out)
        args.models = len(paths)
        evaluate_table(args, paths, f"{len(paths)} model files: {', '.join(map(str, paths))}",
                       time.perf_counter() - t0)
        return
    args.width = args.width or SMALL_IMAGE_WIDTH
    stats = dataset_stats(args.dataset, data_dir=args.data_dir)
    size = stats.image_size
    tf = train_transform("paper", input_size=size, mean=stats.mean, std=stats.std, channels=stats.channels,
                         color_jitter=0.0, crops=RandomCrops((args.min_area, 1.0), hflip=stats.hflip))
    train_data = load_dataset(args.dataset, "train", data_dir=args.data_dir, transform=tf, val_fraction=0)
    if args.train_limit and args.train_limit < len(train_data):
        keep = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(1234))[:args.train_limit]
        train_data = train_data.subset(keep)
    print(f"training {args.models} x {args.model} (width {args.width}) on {len(train_data)} {args.dataset} "
          f"images, {args.epochs} epochs, {torch.get_num_threads()} thread(s)", flush=True)
    t0 = time.perf_counter()
    paths = [train_one(seed, args, stats, train_data, out) for seed in range(args.models)]
    train_seconds = time.perf_counter() - t0

    evaluate_table(args, paths, f"{args.model} width {args.width}, {args.models} seeds, {args.epochs} epochs on "
                   f"{len(train_data)} images", train_seconds)


def evaluate_table(args: argparse.Namespace, paths: list[Path], what: str, train_seconds: float) -> None:
    """Every (first k models, crops) cell from one pass per crop setting: per-member probabilities are kept,
    so the k-model ensembles are averages of the first k members' (the paper averages softmax outputs)."""
    ensemble = Ensemble.load(paths)
    ensemble.use_backend(args.backend)
    test = load_dataset(args.dataset, args.split, data_dir=args.data_dir)
    check_classes(ensemble, test.classes, args.dataset)
    probs, seconds = {}, {}
    for crops in (1, 10, 144):
        ensemble.build_backends(crops)  # ONNX export before the clock starts
        t = time.perf_counter()
        probs[crops], targets = dataset_probabilities(ensemble, test, crops, limit=args.test_limit, batch_size=100,
                                                      crop_batch=args.crop_batch)
        seconds[crops] = time.perf_counter() - t
        n = int(targets.numel())
        print(f"  {crops:>3} crops: {seconds[crops]:.0f}s for {args.models} models "
              f"({n * ensemble.cost(crops) / seconds[crops]:.0f} crops/s)", flush=True)
    backend = ",".join(dict.fromkeys(ensemble.backends))  # after building: auto may have fallen back to torch

    # Single-model errors of every seed, so an ensemble can also be compared with the mean of its members
    # (the base row is seed 0 alone, as the paper's base is one model; seeds differ by a few points).
    singles = {c: [Metrics.from_probabilities(probs[c][i], targets).top1_error for i in range(args.models)]
               for c in (1, 10, 144)}
    rows, base = [], None
    for k in range(1, args.models + 1):
        for crops in (1, 10, 144):
            m = Metrics.from_probabilities(probs[crops][:k].mean(0), targets, list(test.classes))
            if base is None:
                base = m
            mean_single = sum(singles[crops][:k]) / k
            rows.append({
                "models": k, "crops": crops, "cost": k * crops,
                "top-1 error %": round(m.top1_error, 2), "top-5 error %": round(m.top5_error, 2),
                "top-1 vs base": "base" if m is base else f"{m.top1_error - base.top1_error:+.2f}",
                "top-5 vs base": "base" if m is base else f"{m.top5_error - base.top5_error:+.2f}",
                "members' mean top-1 error %": round(mean_single, 2),
                "vs members' mean": f"{m.top1_error - mean_single:+.2f}",
            })
    protocols = {c: ensemble.protocols(c)[0].describe() for c in (1, 10, 144)}
    title = f"Table 3 on {args.dataset} {args.split} ({n} images): {what}; backend {backend}"
    print()
    print(format_table(rows, title=title))
    lines = ["single models, top-1 error % by seed (1 / 10 / 144 crops):"]
    lines += [f"  model {i + 1}: " + " / ".join(f"{singles[c][i]:.2f}" for c in (1, 10, 144))
              for i in range(args.models)]
    lines.append("  mean:    " + " / ".join(f"{sum(singles[c]) / args.models:.2f}" for c in (1, 10, 144)))
    timing = ("training " + (f"{train_seconds:.0f}s" if train_seconds >= 1 else "none (model files given)")
              + "; evaluation " + ", ".join(f"{c} crop{'s' if c > 1 else ''} {seconds[c]:.0f}s" for c in (1, 10, 144)))
    print("\n" + "\n".join(lines))
    print(f"\n{timing}; check any cell with `googlenet eval {paths[0]} ... --dataset {args.dataset} --split "
          f"{args.split} --crops C{f' --limit {n}' if args.test_limit else ''}`")
    if args.report:
        from googlenet.bench.machine import load_average
        from googlenet.system.hardware import cpu_name

        load = load_average()
        crops_text = "; ".join(f"{c}: {protocols[c]}" for c in (1, 10, 144))
        atomic_write_text(args.report, (
            f"{title}\n\nCrops ({crops_text}). Host CPU {cpu_name()}, {torch.get_num_threads()} thread(s)"
            f"{f', load average {load[0]} at the end' if load else ''}; {timing}.\n\n"
            + markdown_table(rows, align="---:") + "\n\n```\n" + "\n".join(lines) + "\n```\n"))
        print(f"written to {args.report}")

if __name__ == "__main__":
    main()
