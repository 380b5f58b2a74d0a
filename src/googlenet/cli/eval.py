"""``googlenet eval``: top-1/top-5, per-class accuracy and a confusion matrix, with 1/10/144 crops and ensembles."""

from __future__ import annotations

import argparse

from ..system.text import format_table, to_json
from ._common import add_backend_flag, add_crop_args, add_force_flag, add_json_flag, load_ensemble, parse_scales


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate model files (an ensemble if several) with the paper's 1/10/144-crop protocols",
        description="Top-1/top-5 accuracy and error, per-class accuracy and a confusion matrix (PNG and JSON) "
                    "of one model file or of several averaged at the softmax (section 7).")
    parser.add_argument("checkpoint", nargs="*", help="model files or run folders (several = an ensemble)")
    parser.add_argument("--checkpoint", "-c", dest="checkpoints", action="append", default=[],
                        help="a model file or run folder (repeatable)")
    parser.add_argument("--dataset", default=None, help="dataset name (default: the one the checkpoint records)")
    parser.add_argument("--data-dir", default=None, help="where the dataset files are")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    add_crop_args(parser)
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps ...")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write metrics.json, confusion.json and confusion.png here")
    parser.add_argument("--per-class", action="store_true", help="print the accuracy of every class")
    # Checked in run(), not with choices=, so that a bad name is one line.
    add_backend_flag(parser, "calibrated on the first images of the split; prints its top-1 change against fp32")
    parser.add_argument("--no-compare", action="store_true",
                        help="with an int8 or bf16 backend, skip the fp32 run on the same images that states its "
                             "accuracy change")
    parser.add_argument("--no-cache", action="store_true",
                        help="decode the split again instead of reading (and keeping) its decoded views in "
                             "$GOOGLENET_CACHE (1 crop only)")
    add_force_flag(parser, "metrics.json, confusion.json and confusion.png in --out")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..deploy.backends import backend_spec
    from ..errors import UserError
    from ..evaluation import EvalOptions, evaluate
    from ..evaluation.runner import EvalResult
    from ..system.files import check_output_dir

    if args.out:  # before the evaluation, not after it
        check_output_dir(args.out, force=args.force, names=EvalResult.FILES)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    paths = list(args.checkpoint) + list(args.checkpoints)
    ensemble = load_ensemble(args, paths)
    options = EvalOptions(split=args.split, data_dir=args.data_dir, crops=args.crops, scales=parse_scales(args.scales),
                          limit=args.limit, batch_size=args.batch_size, crop_batch=args.crop_batch, device=args.device,
                          progress=sys.stderr.isatty(), backend=args.backend, compare=not args.no_compare,
                          cache=not args.no_cache)
    result = evaluate(ensemble, args.dataset, options)
    m = result.metrics
    written = [str(p) for p in result.save(args.out, force=args.force)] if args.out else []
    if args.json:
        print(to_json({**result.as_dict(), "confusion": m.confusion, "written": written}))
        return 0
    row = {"models": len(paths), "crops": result.crops, "cost": result.cost, "images": m.num_images,
           "top-1 acc %": round(m.top1, 2), "top-5 acc %": round(m.top5, 2),
           "top-1 err %": round(m.top1_error, 2), "top-5 err %": round(m.top5_error, 2),
           "backend": ",".join(dict.fromkeys(result.backends)), "seconds": round(result.seconds, 1),
           "img/s": round(result.images_per_second, 2), "crops/s": round(result.images_per_second * result.cost, 1)}
    rows = [row]
    if result.reference is not None:
        ref = result.reference
        rows.append({**row, "top-1 acc %": round(ref["top1"], 2), "top-5 acc %": round(ref["top5"], 2),
                     "top-1 err %": round(100 - ref["top1"], 2), "top-5 err %": round(100 - ref["top5"], 2),
                     "backend": ref["backend"], "seconds": round(ref["seconds"], 1),
                     "img/s": round(m.num_images / ref["seconds"], 2) if ref["seconds"] else None,
                     "crops/s": round(m.num_images * result.cost / ref["seconds"], 1) if ref["seconds"] else None})
    if len(m.class_names) <= 5:  # top-5 of five classes or fewer is 100% by construction
        rows = [{k: v for k, v in r.items() if not k.startswith("top-5")} for r in rows]
    print(format_table(rows, title=f"{result.dataset} {result.split}; {'; '.join(dict.fromkeys(result.protocols))}"))
    if result.reference is not None:
        ref = result.reference
        precision = backend_spec(result.backends[0]).precision
        print(f"{precision} changes top-1 by {result.top1_change:+.2f} points ({m.top1:.2f}% vs {ref['top1']:.2f}% "
              "with fp32 "
              f"on {ref['backend']}, the same {m.num_images} images)")
    if args.per_class:
        rows = [{"class": n, "images": c, "accuracy %": (None if a != a else round(a, 2))}
                for n, c, a in zip(m.class_names, m.class_counts, m.per_class, strict=True)]
        print()
        print(format_table(rows, title="per-class accuracy"))
    for path in written:
        print(f"wrote {path}")
    return 0
