"""``googlenet compare``: every registered model's measured cost beside its published accuracy."""

from __future__ import annotations

import argparse
import sys

from ..system.text import format_table, to_json
from ._common import add_json_flag

SORT_KEYS = ("name", "year", "params", "macs", "top1", "top5", "speed")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="parameters, multiply-adds (measured) and published accuracy of every model",
        description="Measure each model's parameters and multiply-adds at its native input (built once on "
        "the meta device), list them beside the published top-1/top-5 and source, and optionally draw "
        "accuracy against multiply-adds (bubble area = parameters).",
    )
    parser.add_argument("models", nargs="*", help="models to compare (default: all registered)")
    parser.add_argument("--family", default=None, help="only this family (e.g. resnet, vgg)")
    parser.add_argument("--task", default=None, help="only this task (classification, segmentation)")
    parser.add_argument("--measure", action="store_true", help="also measure CPU images/s now (slow)")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size for --measure (default 8)")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per model for --measure")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for --measure (default: torch's; 1 is fairer on a busy machine)")
    parser.add_argument("--sort", choices=SORT_KEYS, default=None, help="sort rows (default: registry order)")
    parser.add_argument("--plot", metavar="PATH", default=None,
                        help="write the accuracy/multiply-adds chart to PATH.png and PATH.svg")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _sort_key(key: str):
    field = {"speed": "images_per_s"}.get(key, key)
    if key == "name":
        return lambda r: r.name
    return lambda r: (getattr(r, field) is None, -(getattr(r, field) or 0))


def run(args: argparse.Namespace) -> int:
    from ..inspect.compare import compare, plot, table_rows

    rows = compare(args.models or None, family=args.family, task=args.task, measure_speed=args.measure,
                   batch_size=args.batch_size, seconds=args.seconds, threads=args.threads)
    if args.sort:
        rows.sort(key=_sort_key(args.sort))
    written = plot(rows, args.plot) if args.plot else []
    if args.json:
        print(to_json({"models": [r.as_dict() for r in rows], "plots": [str(p) for p in written]}))
        return 0
    table = table_rows(rows, speed=args.measure)
    title = (f"{len(rows)} models: params and mult-adds measured at the native input (one image); "
             "ref = the paper's / torchvision's figure; source shortened (--json has it whole)")
    if args.measure:
        import torch

        title += (f"; img/s: CPU, batch {args.batch_size}, {args.threads or torch.get_num_threads()} thread(s), "
                  "measured now")
    print(format_table(table, title=title))
    for p in written:
        print(f"wrote {p}")
    failed = [r.name for r in rows if r.error]
    if failed:
        print(f"googlenet: warning: could not measure {', '.join(failed)} (see the source column)", file=sys.stderr)
    return 0
