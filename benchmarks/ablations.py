"""The paper's design claims, measured on natural photos: one training run per (variant, seed).

Every run uses the photo recipe (``googlenet.training.RECIPES["photos"]``: full-width GoogLeNet with batch
norm, one-cycle SGD with Nesterov momentum, random-resized crops of 35-100% and flips, label smoothing 0.1,
bf16 autocast where the CPU computes it natively) on Imagenette, at the same budget for every variant.
The input size is fixed (``--input-size``, default the recipe's 128) and progressive resizing is forced
off: the ``head="fc"`` variant's weights are built for one grid, and every variant must see the same
images at the same size.

Variants (each against one baseline; docs/fidelity.md has the paper's statements):

    baseline  the recipe's network: Table 1 modules, global average pooling, batch norm, 5x5, no aux heads
    aux       + section 5's two auxiliary classifiers, loss weight 0.3 (dropped at evaluation)
    naive     Figure 2(a) modules: no 1x1 reductions, channels grow module by module (section 4)
    fc        flatten + linear instead of average pooling + linear (section 5's "about 0.6%")
    lrn       the paper's normalization: LRN in the stem, no batch norm (peak lr --no-bn-lr)
    neither   no LRN, no batch norm (against lrn: same learning rate)
    k3        torchvision's 3x3 kernel in the "#5x5" branch
    long      the baseline for 4x the epochs, about the naive run's training time (against naive: section 4's
              claim is about cost)

Resumable: run ``<root>/<variant>/seed<k>`` is skipped when its summary.json is there and continued
(``train(resume=...)``) when only its train_state.pt is; so the script can be killed and rerun at any
time. At the end it writes a markdown table (``--report``) and prints it.

    python benchmarks/ablations.py --dry-run                        # the plan: runs, params, mult-adds
    nohup python benchmarks/ablations.py --seeds 2 > runs/ablations.log 2>&1 &
    # docs/fidelity.md's runs (the baseline's 7 seeds are Table 3's models, benchmarks/table3.py):
    python benchmarks/ablations.py --seeds 2 --seeds-for baseline=7,aux=7,k3=7 --epochs 3 --input-size 112 --width 0.5
    python benchmarks/ablations.py ... --report-only                # the table of the runs finished so far
    python benchmarks/ablations.py --only aux --seeds 1 --epochs 1 --max-steps 3 --width 0.125 \\
        --root /tmp/abl-smoke --report /tmp/abl-smoke/report.md     # end-to-end check in a minute
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from googlenet import create_model, summary
from googlenet.errors import UserError
from googlenet.system.files import atomic_write_text
from googlenet.system.text import markdown_table
from googlenet.training import make_config, train
from googlenet.training.config import RECIPES
from googlenet.training.records import read_log

#: The photo recipe's builder options (batch norm, no LRN, no aux heads, width 1): the baseline network.
RECIPE = "photos"
#: The optimizer of the variants without batch norm: BVLC Caffe's GoogLeNet solver (base_lr 0.01 at batch 32,
#: weight_decay 2e-4), the rate scaled linearly to the recipe's batch 64. The recipe's own values are batch-norm
#: values: measured on the width-1/2 lrn network at 112 px, the recipe's lr 4e-3 / weight decay 0.05 left it at
#: chance (9.1% val top-1 after 3 epochs, and so did neither), and lr 0.02 with weight decay 0.05 was still at
#: chance after 100 steps, where lr 0.02 / 2e-4 had left it (15.3%). tests/test_ablation_variants.py saw the
#: no-BN network fall back to chance at lr 0.03-0.05.
NO_BN_LR = 0.02
NO_BN_WEIGHT_DECAY = 2e-4
#: The no-BN variants' settings beyond the recipe: values naming an option are read from it.
NO_BN_SOLVER = {"lr": "--no-bn-lr", "weight_decay": "--no-bn-wd"}
#: A difference within max(this, the seeds' spread) points of top-1 is "within noise".
NOISE_FLOOR = 0.5


@dataclass(frozen=True)
class Variant:
    name: str
    claim: str  # docs/fidelity.md section
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # training settings beyond the recipe
    baseline: str | None = "baseline"
    #: +1: the paper expects the variant to score higher than its baseline; -1: lower; 0: no claim.
    expects: int = 0
    about: str = ""
    #: Trains for this many times --epochs (the "long" run: the baseline at the naive modules' training time).
    epoch_factor: int = 1

    def epochs(self, args: argparse.Namespace) -> int:
        return args.epochs * self.epoch_factor


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("baseline", "all", baseline=None, about="photo recipe: Table 1, avg pool, BN, 5x5, no aux"),
    Variant("aux", "aux", {"aux_logits": True}, {"aux_weight": 0.3}, expects=+1,
            about="+ aux classifiers on 4a/4d, weight 0.3 (section 5)"),
    Variant("naive", "naive", {"naive_modules": True}, expects=-1,
            about="Figure 2(a): no 1x1 reductions (section 4)"),
    Variant("fc", "head", {"head": "fc"}, expects=-1, about="flatten + linear instead of avg pool (section 5)"),
    Variant("lrn", "norm", {"batch_norm": False, "lrn": True}, NO_BN_SOLVER, expects=0,
            about="the paper's LRN, no batch norm (Figure 3)"),
    Variant("neither", "norm", {"batch_norm": False, "lrn": False}, NO_BN_SOLVER, baseline="lrn", expects=-1,
            about="neither LRN nor batch norm"),
    Variant("k3", "kernel", {"kernel_5x5": 3}, expects=-1, about="3x3 in the #5x5 branch (torchvision)"),
    # Section 4's claim is about cost, so the naive modules are also matched against Table 1's network given
    # their training time: a naive epoch took about 4.5x a baseline epoch (88-105 s against 17-23 s).
    Variant("long", "naive", baseline="naive", expects=+1, epoch_factor=4,
            about="Table 1's network for 4x the epochs: the naive run's training time"),
)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default="runs/ablations", help="one folder per run: ROOT/VARIANT/seedK")
    p.add_argument("--report", default="docs/fidelity-results.md", help="markdown table written here")
    p.add_argument("--dataset", default="imagenette")
    p.add_argument("--data-dir", default=None, help="folder holding imagenette-224.tar.gz (else $GOOGLENET_DATA)")
    p.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 of every variant")
    p.add_argument("--epochs", type=int, default=RECIPES[RECIPE]["epochs"])
    p.add_argument("--input-size", type=int, default=RECIPES[RECIPE]["input_size"],
                   help="fixed image side of every run (the fc head is built for it)")
    p.add_argument("--width", type=float, default=1.0, help="channel width of every variant (1.0 = the paper)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    p.add_argument("--seeds-for", default="",
                   help="VARIANT=N[,VARIANT=N...]: more seeds for some variants, e.g. baseline=7 (Table 3's members "
                        "in benchmarks/table3.py, and a firmer spread for every verdict)")
    p.add_argument("--baseline-seeds", type=int, default=None, help="the same as --seeds-for baseline=N")
    p.add_argument("--no-bn-lr", type=float, default=NO_BN_LR, help="peak learning rate of lrn and neither")
    p.add_argument("--no-bn-wd", type=float, default=NO_BN_WEIGHT_DECAY, help="weight decay of lrn and neither")
    p.add_argument("--max-steps", type=int, default=None, help="stop each run after this many steps (smoke tests)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads of torch")
    p.add_argument("--device", default=None, help="auto, cpu, cuda, ...")
    p.add_argument("--only", default=None, help="VARIANT[,VARIANT...]; their baselines are run too")
    p.add_argument("--dry-run", action="store_true", help="print the plan (runs, params, mult-adds) and stop")
    p.add_argument("--report-only", action="store_true",
                   help="write the table from the runs finished so far (summary.json) and train nothing")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        p.error("--seeds and --epochs must be at least 1")
    args.seeds_for = seeds_for(args.seeds_for, args.seeds)
    if args.baseline_seeds:
        args.seeds_for["baseline"] = max(args.baseline_seeds, args.seeds)
    return args


def seeds_for(text: str, seeds: int) -> dict[str, int]:
    """``"baseline=7,k3=7"`` -> {"baseline": 7, "k3": 7}; each at least ``seeds``."""
    counts = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, count = item.partition("=")
        if name not in VARIANTS or not count.isdigit():
            raise UserError(f"--seeds-for takes VARIANT=N items (variants: {', '.join(VARIANTS)}), got {item!r}")
        counts[name] = max(int(count), seeds)
    return counts


def selected(only: str | None) -> list[Variant]:
    """The asked variants and, first, the baselines their verdicts need."""
    if not only:
        return list(VARIANTS.values())
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise UserError(f"unknown variant {unknown[0]!r} in --only; use some of {', '.join(VARIANTS)}")
    wanted: list[str] = []
    for name in names:
        chain = [name]
        while VARIANTS[chain[-1]].baseline:
            chain.append(VARIANTS[chain[-1]].baseline)
        wanted.extend(n for n in reversed(chain) if n not in wanted)
    return [VARIANTS[n] for n in VARIANTS if n in wanted]


def model_kwargs(v: Variant, args: argparse.Namespace) -> dict[str, Any]:
    kwargs = {**RECIPES[RECIPE]["model_kwargs"], "width": args.width, **v.model_kwargs}
    if kwargs.get("head") == "fc":
        kwargs["input_size"] = args.input_size
    return kwargs


def settings(v: Variant, args: argparse.Namespace) -> dict[str, Any]:
    # A value naming an option ("--no-bn-lr") is read from it: the no-BN variants' optimizer.
    options = {"--no-bn-lr": args.no_bn_lr, "--no-bn-wd": args.no_bn_wd}
    return {k: options.get(val, val) if isinstance(val, str) else val for k, val in v.settings.items()}


def measure(v: Variant, args: argparse.Namespace, num_classes: int = 10) -> dict[str, int]:
    """Parameters and multiply-adds per image at the run's input size, on the meta device (no memory)."""
    with torch.device("meta"):
        model = create_model("googlenet", num_classes=num_classes, **model_kwargs(v, args))
        s = summary(model, args.input_size)
    return {"params": s.params_without_aux, "train_params": s.params, "macs": s.macs}


def run_config(v: Variant, seed: int, args: argparse.Namespace, run_dir: Path):
    return make_config(recipe=RECIPE, dataset=args.dataset, data_dir=args.data_dir, out=str(run_dir), seed=seed,
                       epochs=v.epochs(args), input_size=args.input_size, resize_schedule="",
                       batch_size=args.batch_size, max_steps=args.max_steps, threads=args.threads,
                       device=args.device, model_kwargs=model_kwargs(v, args), **settings(v, args))


#: Saved settings a rerun may change: resuming continues them (the trainer allows these).
RESUMABLE = {"epochs", "max_steps", "device", "workers", "threads", "out"}


def run_one(v: Variant, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train (or skip, or continue) one run; its summary.json."""
    run_dir = Path(args.root) / v.name / f"seed{seed}"
    config = run_config(v, seed, args, run_dir)
    saved_path, summary_path, state = run_dir / "config.json", run_dir / "summary.json", run_dir / "train_state.pt"
    if saved_path.is_file():
        saved = json.loads(saved_path.read_text())
        wanted = config.to_dict()
        differ = sorted(k for k in wanted if k not in RESUMABLE and saved.get(k) != wanted[k])
        if differ:
            raise UserError(f"{run_dir} was trained with other settings ({', '.join(differ)}); use another --root "
                            f"or delete that folder")
        if saved.get("max_steps") is not None and args.max_steps is None:
            raise UserError(f"{run_dir} is a --max-steps {saved['max_steps']} smoke run; delete it or use another "
                            "--root for full runs")
        # Finished: summary.json of a run of this length. (A resumed run keeps its first config.json, so the
        # length is read from the summary, which every finish rewrites.)
        finished = json.loads(summary_path.read_text()) if summary_path.is_file() else None
        if finished and finished.get("epochs") == v.epochs(args) and (
                args.max_steps is None or finished.get("global_step", 0) >= args.max_steps):
            print(f"[{v.name} seed {seed}] finished earlier: {run_dir}", flush=True)
            return finished
        if state.is_file():
            print(f"[{v.name} seed {seed}] continuing {run_dir}", flush=True)
            result = train(resume=run_dir, epochs=v.epochs(args), max_steps=args.max_steps, threads=args.threads,
                           device=args.device)
            if result.get("val_top1") is None:  # killed after its last epoch, before summary.json: the log has it
                rows = read_log(run_dir)
                result.update({k: rows[-1].get(k) for k in ("val_top1", "val_top5")} if rows else {})
            return result
    print(f"[{v.name} seed {seed}] training into {run_dir}", flush=True)
    return train(config)


def run_plan(variants: list[Variant], costs: dict[str, dict], args: argparse.Namespace) -> list[tuple[Variant, int]]:
    """Seed-major (a first look at every variant early), the cheap variants first, then their extra seeds
    (--seeds-for), then the variants that cost several times the baseline (the naive modules: 8x), so that a
    run cut short by the clock has the most verdicts."""
    base_macs = costs.get("baseline", {}).get("macs") or 1
    cheap = [v for v in variants if costs[v.name]["macs"] * v.epoch_factor <= 2 * base_macs]
    costly = [v for v in variants if v not in cheap]
    plan = [(v, seed) for seed in range(args.seeds) for v in cheap]
    plan += [(v, seed) for v in cheap for seed in range(args.seeds, args.seeds_for.get(v.name, args.seeds))]
    return plan + [(v, seed) for v in costly for seed in range(args.seeds_for.get(v.name, args.seeds))]


# --- the report ----------------------------------------------------------------------------------------

def verdict(v: Variant, diff: float | None, noise: float) -> str:
    """Difference (points of val top-1) against the baseline, judged against the noise and the paper."""
    if diff is None:
        return "-"
    if abs(diff) <= noise:
        return f"within noise ({diff:+.2f} <= {noise:.2f})"
    better = "higher" if diff > 0 else "lower"
    if v.expects == 0:
        return f"{better} ({diff:+.2f})"
    agrees = (diff > 0) == (v.expects > 0)
    return f"{'agrees' if agrees else 'disagrees'} ({better}, {diff:+.2f})"


def spread(values: list[float]) -> float:
    """Sample standard deviation over seeds (0 for one seed)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def table_rows(variants: list[Variant], costs: dict[str, dict], results: dict[str, list[dict]]) -> list[dict]:
    stats: dict[str, tuple[float, float, int]] = {}
    for v in variants:
        tops = [r["val_top1"] for r in results.get(v.name, []) if r.get("val_top1") is not None]
        if tops:
            stats[v.name] = (statistics.fmean(tops), spread(tops), len(tops))
    rows = []
    for v in variants:
        runs = results.get(v.name, [])
        mean = stats.get(v.name)
        base = stats.get(v.baseline) if v.baseline else None
        diff = noise = None
        if mean and base:
            diff = mean[0] - base[0]
            noise = max(mean[1], base[1], NOISE_FLOOR)
        walls = [r["wall_time_s"] for r in runs if r.get("wall_time_s") is not None]
        rows.append({
            "variant": v.name,
            "what": v.about,
            "params": f"{costs[v.name]['params'] / 1e6:.2f}M",
            "mult-adds": f"{costs[v.name]['macs'] / 1e9:.3f}G",
            "val top-1 %": f"{mean[0]:.2f} ± {mean[1]:.2f} (n={mean[2]})" if mean else "-",
            "wall time": wall_text(statistics.fmean(walls)) if walls else "-",
            "vs": v.baseline or "",
            "verdict": verdict(v, diff, noise or NOISE_FLOOR) if v.baseline else "baseline",
        })
    return rows


def wall_text(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"


def report_text(rows: list[dict], args: argparse.Namespace, host: str) -> str:
    return (
        f"# Ablations on {args.dataset}: results\n\n"
        f"`python benchmarks/ablations.py --seeds {args.seeds} --epochs {args.epochs} --input-size {args.input_size}"
        f"{' --seeds-for ' + ','.join(f'{k}={n}' for k, n in args.seeds_for.items()) if args.seeds_for else ''}"
        f"{f' --width {args.width}' if args.width != 1.0 else ''}"
        f"{f' --no-bn-lr {args.no_bn_lr}' if args.no_bn_lr != NO_BN_LR else ''}"
        f"{f' --no-bn-wd {args.no_bn_wd}' if args.no_bn_wd != NO_BN_WEIGHT_DECAY else ''}"
        f"{f' --max-steps {args.max_steps}' if args.max_steps else ''}` on {host}.\n\n"
        f"Recipe `{RECIPE}` at a fixed {args.input_size} px, {args.epochs} epoch(s); val top-1 on the val split, "
        f"single centre crop; mean ± sample standard deviation over seeds; params and mult-adds per image at "
        f"inference (auxiliary heads excluded). Verdict: the difference against the `vs` run is within noise "
        f"when it is at most max(either spread, {NOISE_FLOOR} points); otherwise it agrees or disagrees with "
        f"the paper's claim (docs/fidelity.md).\n\n"
        + markdown_table(rows) + "\n"
    )


def host_text(results: dict[str, list[dict]]) -> str:
    """Where the figures came from: the devices the runs used, the CPU, its cores and load."""
    import os

    from googlenet.bench.machine import load_average
    from googlenet.system.hardware import cpu_name

    devices = sorted({str(r.get("device")) for runs in results.values() for r in runs if r.get("device")})
    if any(d.startswith("cuda") for d in devices) and torch.cuda.is_available():
        devices = [f"{d} ({torch.cuda.get_device_name()})" if d.startswith("cuda") else d for d in devices]
    load = load_average()
    return (f"device {', '.join(devices) or '?'}; host CPU {cpu_name()}, {os.cpu_count()} cores"
            f"{f', load average {load[0]} at the end' if load else ''}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    variants = selected(args.only)
    costs = {v.name: measure(v, args) for v in variants}
    plan = run_plan(variants, costs, args)
    print(f"{len(plan)} runs ({len(variants)} variants x {args.seeds} seeds"
          f"{''.join(f', {k} x {n}' for k, n in args.seeds_for.items())}), "
          f"recipe {RECIPE}, {args.epochs} "
          f"epochs at {args.input_size} px, width {args.width}, under {args.root}:")
    base_macs = costs.get("baseline", {}).get("macs")
    for v in variants:
        ratio = f", {costs[v.name]['macs'] / base_macs:.2f}x the baseline's cost" if base_macs else ""
        extra = settings(v, args)
        print(f"  {v.name:9} {costs[v.name]['params'] / 1e6:6.2f}M params ({costs[v.name]['train_params'] / 1e6:.2f}M "
              f"in training), {costs[v.name]['macs'] / 1e9:.3f}G mult-adds{ratio}; {model_kwargs(v, args)}"
              f"{f' {extra}' if extra else ''}")
    if args.dry_run:
        return 0
    results: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for v, seed in plan:
        if args.report_only:
            finished = Path(args.root) / v.name / f"seed{seed}" / "summary.json"
            if finished.is_file():
                results.setdefault(v.name, []).append(json.loads(finished.read_text()))
            continue
        results.setdefault(v.name, []).append(run_one(v, seed, args))
    rows = table_rows(variants, costs, results)
    text = report_text(rows, args, host_text(results))
    atomic_write_text(args.report, text)
    print(f"\n{text}\nwritten to {args.report} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        sys.exit(f"ablations: error: {exc}")
