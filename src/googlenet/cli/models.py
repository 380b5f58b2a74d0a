"""``googlenet models``: every registered model with the papers' facts."""

from __future__ import annotations

import argparse

from ..models.registry import list_models, model_info
from ..system.text import format_table, human, to_json
from ._common import add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the registered models and their published figures")
    parser.add_argument("--family", default=None, help="only this family (e.g. inception, resnet)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    infos = [model_info(name) for name in list_models(family=args.family)]
    if args.json:
        print(to_json([info.as_dict() for info in infos]))
        return 0
    rows = [
        {
            "model": i.name, "family": i.family, "year": i.year, "input": i.input_size,
            "params": human(i.params), "mult-adds": f"{i.macs:.3g}G" if i.macs else "-",
            "top-1": i.top1, "top-5": i.top5, "source": i.accuracy_source,
        }
        for i in infos
    ]
    print(format_table(rows, title=f"{len(rows)} models (params and mult-adds: reference figures; "
                                   "`googlenet summary NAME` measures them)"))
    return 0
