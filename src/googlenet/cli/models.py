"""``googlenet models``: every registered model with the papers' facts, or the released weights."""

from __future__ import annotations

import argparse

from ..models.registry import list_models, model_info
from ..system.text import format_table, human, to_json
from ._common import add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the registered models and their published figures")
    parser.add_argument("pattern", nargs="?", default=None,
                        help="a family (inception) or a wildcard on names ('inception*', 'resnet?8')")
    parser.add_argument("--family", default=None, help="only this family (e.g. inception, resnet)")
    parser.add_argument("--pretrained", action="store_true",
                        help="list the released weights create_model(name, pretrained=...) loads instead")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError

    names = list_models(args.pattern, family=args.family)
    if not names:
        what = " and ".join(f"{k} {v!r}" for k, v in (("pattern", args.pattern), ("family", args.family)) if v)
        raise UserError(f"no model matches {what}; a pattern is a family (inception) or a wildcard on names "
                        "('inception*'); `googlenet models` lists them all")
    if args.pretrained:
        return _pretrained(names, args.json)
    infos = [model_info(name) for name in names]
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


def _pretrained(names: list[str], as_json: bool) -> int:
    from ..weights.pretrained import ENTRIES

    entries = [e for e in ENTRIES if e.model in names]
    if as_json:
        print(to_json([e.as_dict() for e in entries]))
        return 0
    rows = [{"weights": e.name, "top-1": e.top1, "top-5": e.top5, "input": f"{e.cfg.input_size} of {e.cfg.resize}",
             "file": e.filename, "licence": e.licence.split(";")[0]} for e in entries]
    print(format_table(rows, title=f"{len(rows)} released weights: googlenet.create_model(NAME, pretrained=True | "
                                   "TAG); downloaded once into torch.hub's cache"))
    return 0
