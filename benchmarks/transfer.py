"""Transfer learning measured without ImageNet weights: pretrain on 5 Imagenette classes, fine-tune on the
other 5 from 50 photos per class, against training from scratch on the same 50 per class and time budget.

    python benchmarks/transfer.py --data-dir ../shared/data [--out runs/transfer]

Steps (each a `googlenet train` run through the library, the photos recipe unless noted):
1. pretrain: the first 5 classes (tench, English springer, cassette player, chain saw, church), all of their
   training photos, --pretrain-epochs epochs at 112 px;
2. fine-tune: the other 5 classes (French horn, garbage truck, gas pump, golf ball, parachute), 50 training
   photos each, --init-from the pretrained model (its classifier replaced), the trunk at a tenth of the
   learning rate (--backbone-lr-mult 0.1), the first epoch with the trunk frozen (--freeze features
   --unfreeze-epoch 1); evaluated on all of those classes' val photos;
3. scratch: the same 250 photos, the same epochs, batch and schedule, from random weights.
Prints both val top-1s and wall times, and writes them as JSON beside the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from googlenet.data.datasets import IMAGENETTE_WNIDS  # noqa: E402
from googlenet.training import make_config, train  # noqa: E402


def extract(tarball: Path, out: Path, classes: list[str], *, train_per_class: int | None, test_from_val: bool) -> Path:
    """A class-folder tree of ``classes``: ``train/`` (the first ``train_per_class`` photos of each, by name)
    and, with ``test_from_val``, their val photos as ``test/`` (evaluated once, at the end)."""
    if (out / "train").is_dir():
        return out
    wanted: dict[tuple[str, str], list[tarfile.TarInfo]] = {}
    with tarfile.open(tarball) as tf:
        members = [m for m in tf.getmembers() if m.isfile()]
        for m in sorted(members, key=lambda m: m.name):
            parts = Path(m.name).parts
            if len(parts) < 3 or parts[-2] not in classes or parts[-3] not in ("train", "val"):
                continue
            wanted.setdefault((parts[-3], parts[-2]), []).append(m)
        for (split, wnid), group in wanted.items():
            if split == "val" and not test_from_val:
                split_name = "val"
            elif split == "val":
                split_name = "test"
            else:
                split_name = "train"
                group = group[:train_per_class] if train_per_class else group
            folder = out / split_name / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for m in group:
                (folder / Path(m.name).name).write_bytes(tf.extractfile(m).read())
    return out


def run(settings: dict) -> tuple[dict, float]:
    t0 = time.perf_counter()
    summary = train(make_config(**settings))
    return summary, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("GOOGLENET_DATA"))
    parser.add_argument("--out", default="runs/transfer")
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=12)
    parser.add_argument("--per-class", type=int, default=50)
    args = parser.parse_args()
    root = Path(args.out)
    tarball = Path(args.data_dir) / "imagenette-224.tar.gz"
    first, other = list(IMAGENETTE_WNIDS[:5]), list(IMAGENETTE_WNIDS[5:])
    source = extract(tarball, root / "data-first5", first, train_per_class=None, test_from_val=False)
    target = extract(tarball, root / "data-other5", other, train_per_class=args.per_class, test_from_val=True)
    common = dict(recipe="photos", input_size=112, resize_schedule=None, seed=0)
    pre_dir = root / "pretrain"
    if not (pre_dir / "summary.json").is_file():
        run({**common, "dataset": str(source), "epochs": args.pretrain_epochs, "out": str(pre_dir)})
    pre = json.loads((pre_dir / "summary.json").read_text())
    small = dict(common, dataset=str(target), epochs=args.finetune_epochs, batch_size=25,
                 warmup_epochs=1.0)
    tuned, tuned_s = run({**small, "out": str(root / "finetune"), "init_from": str(pre_dir / "model.safetensors"),
                          "backbone_lr_mult": 0.1, "freeze": "features", "unfreeze_epoch": 1})
    scratch, scratch_s = run({**small, "out": str(root / "scratch")})
    result = {
        "pretrain": {"classes": first, "val_top1": pre.get("val_top1"), "wall_s": pre.get("wall_time_s")},
        "finetune": {"test_top1": tuned["test_top1"], "wall_s": tuned_s},
        "scratch": {"test_top1": scratch["test_top1"], "wall_s": scratch_s},
        "train_photos_per_class": args.per_class, "test_photos": tuned["test_images"],
        "load_after": os.getloadavg()[0],
    }
    (root / "transfer.json").write_text(json.dumps(result, indent=1))
    print(f"\npretrained on {', '.join(first)}: val top-1 {pre.get('val_top1'):.2f}%")
    print(f"the other 5 classes, {args.per_class} training photos each, {tuned['test_images']} val photos:")
    print(f"  fine-tuned   {tuned['test_top1']:6.2f}%  in {tuned_s:5.0f} s")
    print(f"  from scratch {scratch['test_top1']:6.2f}%  in {scratch_s:5.0f} s")


if __name__ == "__main__":
    main()
