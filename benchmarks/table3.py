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

Use ``--threads 1`` on a shared machine: OpenMP threads of several processes spinning on the same
cores made this machine's training 8x slower with 2 threads than with 1.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from googlenet import create_model
from googlenet.data import dataset_stats, load_dataset, train_transform
from googlenet.evaluation import Ensemble, Metrics
from googlenet.evaluation.crops import SINGLE_SCALE, scaled
from googlenet.evaluation.runner import check_classes, dataset_probabilities
from googlenet.models.outputs import split_outputs
from googlenet.system.text import format_table
from googlenet.weights.checkpoint import save_model

# Section 5: "the loss of the auxiliary classifiers was weighted by 0.3".
AUX_WEIGHT = 0.3
PAPER_TABLE_3 = {(1, 1): 10.07, (1, 10): 9.15, (1, 144): 7.89, (7, 1): 8.09, (7, 10): 7.62, (7, 144): 6.67}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default="googlenet")
    p.add_argument("--width", type=float, default=0.0625, help="channel-width multiplier of the network")
    p.add_argument("--models", type=int, default=3, help="K: models trained with seeds 0..K-1")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--train-limit", type=int, default=20000, help="train on this many images (fixed subset)")
    p.add_argument("--test-limit", type=int, default=1000, help="evaluate the first N test images")
    p.add_argument("--min-area", type=float, default=0.25, help="smallest random-crop area (paper: 0.08)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/table3", help="folder for the model files")
    p.add_argument("--reuse", action="store_true", help="evaluate model files already in --out")
    return p.parse_args(argv)


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
    preprocessing = {**stats.preprocessing(stats.image_size), "resize": scaled(SINGLE_SCALE, stats.image_size)}
    save_model(path, model, model_name=args.model, model_kwargs=kwargs, class_names=list(stats.classes),
               preprocessing=preprocessing, extra={"seed": seed, "epochs": args.epochs})
    return path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    stats = dataset_stats(args.dataset, data_dir=args.data_dir)
    size = stats.image_size
    tf = train_transform("paper", input_size=size, mean=stats.mean, std=stats.std, hflip=stats.hflip,
                         channels=stats.channels, color_jitter=0.0, scale=(args.min_area, 1.0))
    train_data = load_dataset(args.dataset, "train", data_dir=args.data_dir, transform=tf, val_fraction=0)
    if args.train_limit and args.train_limit < len(train_data):
        keep = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(1234))[:args.train_limit]
        train_data = train_data.subset(keep)
    print(f"training {args.models} x {args.model} (width {args.width}) on {len(train_data)} {args.dataset} "
          f"images, {args.epochs} epochs, {torch.get_num_threads()} thread(s)", flush=True)
    t0 = time.perf_counter()
    paths = [train_one(seed, args, stats, train_data, out) for seed in range(args.models)]
    train_seconds = time.perf_counter() - t0

    ensemble = Ensemble.load(paths)
    test = load_dataset(args.dataset, "test", data_dir=args.data_dir)
    check_classes(ensemble, test.classes, args.dataset)
    probs, seconds = {}, {}
    for crops in (1, 10, 144):
        t = time.perf_counter()
        probs[crops], targets = dataset_probabilities(ensemble, test, crops, limit=args.test_limit, batch_size=100)
        seconds[crops] = time.perf_counter() - t
        print(f"  {crops:>3} crops: {seconds[crops]:.0f}s for {args.models} models", flush=True)

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
                "members' mean top-1 %": round(mean_single, 2),
                "vs members' mean": f"{m.top1_error - mean_single:+.2f}",
            })
    n = int(targets.numel())
    title = (f"Table 3 on {args.dataset} ({n} test images): {args.model} width {args.width}, "
             f"{args.models} seeds, {args.epochs} epochs on {len(train_data)} images")
    print()
    print(format_table(rows, title=title))
    print("\nsingle models, top-1 error % by seed (1 / 10 / 144 crops):")
    for i in range(args.models):
        print(f"  seed {i}: " + " / ".join(f"{singles[c][i]:.2f}" for c in (1, 10, 144)))
    print("  mean:   " + " / ".join(f"{sum(singles[c]) / args.models:.2f}" for c in (1, 10, 144)))
    print(f"\ntraining {train_seconds:.0f}s; evaluation " +
          ", ".join(f"{c} crops {seconds[c]:.0f}s" for c in (1, 10, 144)) +
          f"; model files in {out}/ (check any cell with `googlenet eval {out}/seed0.safetensors ... --crops C "
          f"--limit {n}`)")


if __name__ == "__main__":
    main()
