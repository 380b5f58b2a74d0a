"""``googlenet report RUN...``: a self-contained HTML page for one run folder, or one page comparing runs."""

from __future__ import annotations

import argparse

from ._common import add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="report.html of a run (curves, confusion, mistakes with CAMs, summary) or a comparison",
        description="One RUN: writes RUN/report.html (config, curves, confusion matrix, per-class accuracy, the "
                    "most confident mistakes with their CAMs, the model summary). Several: one page with the "
                    "runs side by side and their curves overlaid. Pictures are embedded; the page needs no network.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `googlenet train`")
    parser.add_argument("--out", "-o", default=None,
                        help="HTML file (default RUN/report.html for one run, ./report.html for several)")
    parser.add_argument("--max-images", type=int, default=2000,
                        help="test images the confusion matrix and mistakes are measured on (default 2000)")
    parser.add_argument("--mistakes", type=int, default=8, help="confident mistakes to show (default 8)")
    parser.add_argument("--data-dir", default=None, help="where the run's dataset is (default: the run's config)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..visualize.report import write_compare_report, write_run_report
    from ._common import apply_threads

    apply_threads(args)
    if args.max_images < 1 or args.mistakes < 0:
        raise UserError("--max-images must be at least 1 and --mistakes at least 0")
    if len(args.runs) == 1:
        path = write_run_report(args.runs[0], args.out, max_images=args.max_images, mistakes=args.mistakes,
                                data_dir=args.data_dir)
    else:
        path = write_compare_report(args.runs, args.out or "report.html")
    if args.json:
        from ..system.text import to_json

        print(to_json({"report": str(path), "runs": list(args.runs)}))
        return 0
    print(f"wrote {path}")
    return 0
