"""``googlenet predict``: top-k classes of image files (any size and mode) from one model or an ensemble."""

from __future__ import annotations

import argparse
import sys

from ..system.text import format_table, to_json
from ._common import add_backend_flag, add_crop_args, add_json_flag, load_ensemble, parse_scales


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="classify image files or folders with a model file (or an ensemble)",
        description="Top-k class names and probabilities per image. A file that cannot be read, or an empty "
                    "folder, is reported in one line and the others still run; the exit code is then 2. "
                    "Model files may be .safetensors (googlenet train) or .onnx (googlenet export).")
    parser.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--checkpoint", "-c", dest="checkpoints", action="append", required=True,
                        help="a model file, run folder or .onnx export (repeat for an ensemble)")
    parser.add_argument("--top-k", "-k", type=int, default=5, help="classes to show per image (default 5)")
    add_crop_args(parser)
    parser.add_argument("--device", default="cpu")
    # Checked in run(), not with choices=, so that a bad name is one line.
    add_backend_flag(parser)
    parser.add_argument("--data-dir", default=None, help="where cifar10-jpeg.tar.gz is (int8 calibration only)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation.predict import predict_files

    ensemble = load_ensemble(args, args.checkpoints)
    ensemble.use_backend(args.backend, device=args.device, data_dir=args.data_dir)

    def report(result) -> None:  # problems as they happen, so a long run shows them at once
        if result.error:
            print(f"googlenet: error: {result.error}", file=sys.stderr)
        elif result.note:
            print(f"googlenet: note: {result.note}", file=sys.stderr)

    results = predict_files(ensemble, args.images, crops=args.crops, scales=parse_scales(args.scales),
                            top_k=args.top_k, crop_batch=args.crop_batch, device=args.device,
                            progress=sys.stderr.isatty(), on_result=report)
    failed = [r for r in results if r.error]
    if args.json:
        print(to_json([r.as_dict() for r in results]))
    else:
        rows = []
        for r in results:
            if r.error or r.note:
                continue
            for rank, (name, p) in enumerate(zip(r.classes, r.probabilities, strict=True), 1):
                rows.append({"image": r.path if rank == 1 else "", "rank": rank, "class": name,
                             "probability": f"{p:.4f}"})
        if rows:
            print(format_table(rows))
    if failed:
        total = sum(1 for r in results if not r.note)
        print(f"googlenet: {len(failed)} of {total} inputs could not be read", file=sys.stderr)
        return 2
    return 0
