"""The photos recipe's choices, one change at a time, decided on a held-out part of Imagenette's train and
reported on val (issue 22; docs/training.md#photos).

    python benchmarks/photos_sweep.py --data-dir ../shared/data --stage tune     # held-out 15% of train
    python benchmarks/photos_sweep.py --data-dir ../shared/data --stage val --variants final --seeds 3
    python benchmarks/photos_sweep.py --report                                    # the markdown table

Each variant is a set of training settings on top of the previous variant's (the ladder below), so each row
measures one change. ``tune`` trains on 85% of train and measures on the other 15% (a train-only copy of the
tarball, so the held-out part is carved by the library's own split); ``val`` trains on all of train and
measures on the 3,925 val photos. Runs are resumable: a finished run (``summary.json``) is skipped, an
interrupted one continues with ``--resume``. One run at a time: on 2 cores a second run only slows both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

#: The ladder: each variant adds one change to the one before it (name, what changed, settings).
LADDER: list[tuple[str, str, dict]] = [
    # Spelled out in full: the ladder's "ranger" row plus ON_THE_RECIPE's "aux-lr4-linear" is the recipe in the code
    # (training/config.py).
    ("recipe", "the photos recipe before this work (35-100% crops, SGD one-cycle, batch 64)",
     dict(augment="photo", crop_scale=0.35, eval_crop=0.875, optimizer="sgd", momentum=0.9, nesterov=True,
          lr=4e-3, weight_decay=0.05, schedule="onecycle", warmup_epochs=0.5, batch_size=64,
          model_kwargs={"activation": "relu", "pool": "max"})),
    ("flip", "whole photo resized + flips instead of 35-100% crops, evaluated on the whole photo",
     dict(augment="flip", eval_crop=1.0)),
    ("ranger", "Ranger (RAdam + Lookahead) at 8e-3, decoupled weight decay 1e-2, flat-then-cosine",
     dict(optimizer="ranger", lr=8e-3, weight_decay=1e-2, momentum=0.95, schedule="flatcos", warmup_epochs=0.0)),
    ("bs32", "batch 32 instead of 64", dict(batch_size=32)),
    ("mish", "Mish instead of ReLU", dict(model_kwargs={"activation": "mish"})),
    ("maxblur", "MaxBlurPool instead of the stride-2 max pools", dict(model_kwargs={"pool": "maxblur"})),
]


#: After the ladder: one change at a time on the recipe of 2026-12-02 (the ladder's "ranger" row; batch 32 and
#: Mish did not pay), each a named builder option or setting, and combinations. "aux-lr4-linear" is the recipe now.
RECIPE_ROW = "ranger"
ON_THE_RECIPE: list[tuple[str, str, dict]] = [
    ("lr4", "Ranger at 4e-3 instead of 8e-3", dict(lr=4e-3)),
    ("aux", "section 5's auxiliary heads trained beside the main head (weight 0.3)",
     dict(model_kwargs={"aux_logits": True})),
    ("deepstem", "deep stem: 3x3/2, 3x3, 3x3 in place of 7x7/2 (stem='deep')", dict(model_kwargs={"stem": "deep"})),
    ("se16", "squeeze-excitation on every inception output (se_reduction=16)",
     dict(model_kwargs={"se_reduction": 16})),
    ("aux-lr4", "aux heads + Ranger at 4e-3", dict(lr=4e-3, model_kwargs={"aux_logits": True})),
    ("aux-deepstem-lr4", "aux heads + deep stem + Ranger at 4e-3",
     dict(lr=4e-3, model_kwargs={"aux_logits": True, "stem": "deep"})),
    ("aux-lr4-linear", "aux heads + Ranger at 4e-3, decayed linearly to 0 from the first step (Budgeted Training)",
     dict(lr=4e-3, schedule="linear", model_kwargs={"aux_logits": True})),
    ("aux-lr6-linear", "aux heads + Ranger at 6e-3, decayed linearly to 0 from the first step",
     dict(lr=6e-3, schedule="linear", model_kwargs={"aux_logits": True})),
    ("aux-lr4-linear-ema", "aux heads + Ranger at 4e-3 decayed linearly + an average of the weights (decay 0.99/step)",
     dict(lr=4e-3, schedule="linear", ema_decay=0.99, model_kwargs={"aux_logits": True})),
    ("aux-se16-lr4", "aux heads + squeeze-excitation (se_reduction=16) + Ranger at 4e-3",
     dict(lr=4e-3, model_kwargs={"aux_logits": True, "se_reduction": 16})),
]
VARIANTS = LADDER + ON_THE_RECIPE


#: The training budget of a run: the recipe's own, or the ablations' cheaper one (docs/fidelity.md).
#: Both name their epochs and input side, so that the recipe's fit to the data (which would give batch 64 ten
#: epochs, to keep the step count) leaves every row of the ladder at the same budget.
BUDGETS = {"full": dict(epochs=5, input_size=128), "proxy": dict(epochs=3, input_size=112,
                                                                  model_kwargs={"width": 0.5})}


def settings_of(name: str) -> dict:
    """The cumulative settings of variant ``name``: every step of the ladder up to it, or the recipe's row plus
    one of ON_THE_RECIPE."""
    extra = {n: e for n, _, e in ON_THE_RECIPE}.get(name)
    if extra is not None:
        out = settings_of(RECIPE_ROW)
        out.update({k: v for k, v in extra.items() if k != "model_kwargs"})
        out["model_kwargs"] = {**out["model_kwargs"], **extra.get("model_kwargs", {})}
        return out
    out: dict = {"model_kwargs": {}}
    for step, _, extra in LADDER:
        for key, value in extra.items():
            if key == "model_kwargs":
                out["model_kwargs"] = {**out["model_kwargs"], **value}
            else:
                out[key] = value
        if step == name:
            return out
    raise SystemExit(f"unknown variant {name!r}; one of {', '.join(n for n, _, _ in VARIANTS)}")


def train_only_tarball(data_dir: Path, cache: Path) -> Path:
    """Imagenette's train/ alone, as a tarball of its own: the library then holds out a fixed-seed part of it."""
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / "imagenette-train-only.tar"
    if out.exists():
        return out
    tmp = out.with_suffix(".part")
    with tarfile.open(data_dir / "imagenette-224.tar.gz") as src, tarfile.open(tmp, "w") as dst:
        for member in src:
            if member.name.startswith("train"):
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    tmp.rename(out)
    return out


def run(name: str, stage: str, seed: int, args: argparse.Namespace) -> dict:
    from googlenet.training import make_config, train

    folder = Path(args.out) / f"{stage}-{args.budget}" / name / f"seed{seed}"
    if (folder / "summary.json").exists():
        return json.loads((folder / "summary.json").read_text())
    budget = dict(BUDGETS[args.budget])
    settings = settings_of(name)
    kwargs = {**settings.pop("model_kwargs"), **budget.pop("model_kwargs", {})}
    settings.update(budget)
    if stage == "tune":
        dataset = str(train_only_tarball(Path(args.data_dir), Path(args.out)))
        data = dict(dataset=dataset, val_fraction=0.15, split_seed=0, eval_test=False)
    else:
        data = dict(dataset="imagenette", data_dir=args.data_dir)
    config = make_config(recipe="photos", out=str(folder), seed=seed, threads=args.threads, report=False,
                         **data, **settings)
    config.model_kwargs.update(kwargs)
    t0 = time.perf_counter()
    resume = folder if (folder / "train_state.pt").exists() else None
    summary = train(config, resume=resume) if resume else train(config)
    summary["sweep_wall_s"] = time.perf_counter() - t0
    (folder / "sweep.json").write_text(json.dumps({"name": name, "stage": stage, "seed": seed,
                                                    "wall_s": summary["sweep_wall_s"]}))
    return summary


def result_rows(out: Path) -> list[dict]:
    rows = []
    for stage in (f"{s}-{b}" for s in ("tune", "val") for b in BUDGETS):
        for name, what, _ in VARIANTS:
            accs, walls = [], []
            for folder in sorted((out / stage / name).glob("seed*")):
                log = folder / "log.jsonl"
                if not (folder / "summary.json").exists() or not log.exists():
                    continue
                last = [json.loads(x) for x in log.read_text().splitlines()][-1]
                accs.append(last["val_top1"])  # already in percent
                sweep = folder / "sweep.json"
                if sweep.exists():
                    walls.append(json.loads(sweep.read_text())["wall_s"])
            if accs:
                rows.append(dict(stage=stage, name=name, what=what, n=len(accs), mean=statistics.mean(accs),
                                 sd=statistics.stdev(accs) if len(accs) > 1 else 0.0, accs=accs,
                                 wall=statistics.mean(walls) if walls else None))
    return rows


def report(out: Path) -> str:
    lines = ["| stage | variant (one change on the row above) | top-1 % (mean ± sd) | seeds | wall s | command |",
             "|---|---|---|---|---|---|"]
    for r in result_rows(out):
        stage, budget = r["stage"].split("-")
        command = f"`python benchmarks/photos_sweep.py --stage {stage} --budget {budget} --variants {r['name']}`"
        wall = f"{r['wall']:.0f}" if r["wall"] else "-"
        lines.append(f"| {r['stage']} | {r['name']}: {r['what']} | {r['mean']:.2f} ± {r['sd']:.2f} | {r['n']} | "
                     f"{wall} | {command} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("GOOGLENET_DATA", "../shared/data"))
    parser.add_argument("--out", default="runs/photos-sweep")
    parser.add_argument("--stage", choices=("tune", "val"), default="tune")
    parser.add_argument("--variants", default=",".join(n for n, _, _ in VARIANTS),
                        help="comma-separated names: the ladder's, or one change on the recipe")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--budget", choices=tuple(BUDGETS), default="full",
                        help="full: the recipe's (width 1, 5 epochs, 128 px); proxy: the ablations' (width 1/2, "
                             "3 epochs, 112 px), for deciding on a shared 2-core machine")
    parser.add_argument("--report", action="store_true", help="only print the table of the finished runs")
    args = parser.parse_args()
    if args.report:
        print(report(Path(args.out)))
        return
    for seed in range(args.seeds):
        for name in args.variants.split(","):
            summary = run(name, args.stage, seed, args)
            print(json.dumps({"variant": name, "stage": args.stage, "seed": seed,
                              "val_top1": summary.get("val_top1"), "wall_s": summary.get("sweep_wall_s")}), flush=True)
    print(report(Path(args.out)))


if __name__ == "__main__":
    main()
