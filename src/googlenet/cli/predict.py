"""``googlenet predict``: top-k classes of image files (any size and mode) from one model or an ensemble."""

from __future__ import annotations

import argparse
import sys

from ..system.text import format_table, to_json
from ._common import add_crop_args, add_json_flag, apply_threads, parse_scales


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="classify image files or folders with a model file (or an ensemble)",
        description="Top-k class names and probabilities per image. A file that cannot be read is reported "
                    "and the others still run; the exit code is then 2.")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--checkpoint", "-c", dest="checkpoints", action="append", required=True,
                        help="a model file or run folder (repeat for an ensemble)")
    parser.add_argument("--top-k", "-k", type=int, default=5, help="classes to show per image (default 5)")
    add_crop_args(parser)
    parser.add_argument("--device", default="cpu")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import Ensemble
    from ..evaluation.predict import predict_files

    apply_threads(args)
    ensemble = Ensemble.load(args.checkpoints, crop_size=args.crop_size)
    results = predict_files(ensemble, args.images, crops=args.crops, scales=parse_scales(args.scales),
                            top_k=args.top_k, crop_batch=args.crop_batch, device=args.device)
    failed = [r for r in results if r.error]
    if args.json:
        print(to_json([r.as_dict() for r in results]))
    else:
        rows = []
        for r in results:
            if r.error:
                continue
            for rank, (name, p) in enumerate(zip(r.classes, r.probabilities, strict=True), 1):
                rows.append({"image": r.path if rank == 1 else "", "rank": rank, "class": name,
                             "probability": round(p, 4)})
        if rows:
            print(format_table(rows))
    for r in failed:
        print(f"googlenet: error: {r.error}", file=sys.stderr)
    if failed:
        print(f"googlenet: {len(failed)} of {len(results)} images could not be read", file=sys.stderr)
        return 2
    return 0
