"""``googlenet summary MODEL``: per-layer table measured from the real modules.

For GoogLeNet it is printed in the layout of the paper's Table 1, with the paper's printed params and
ops beside the measured ones; rows where they differ by more than 5% are marked.
"""

from __future__ import annotations

import argparse

from ..models.registry import create_model, model_info
from ..system.text import to_json
from ._common import add_json_flag, add_model_kwargs, model_kwargs_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("summary", help="per-layer output shapes, params and multiply-adds (Table 1)")
    parser.add_argument("model", help="registry name (see `googlenet models`)")
    parser.add_argument("--input-size", type=int, default=None, help="image side (default: the model's native)")
    parser.add_argument("--depth", type=int, default=1, help="how far to expand nested modules (default 1)")
    parser.add_argument("--layers", action="store_true", help="the generic per-layer table even for GoogLeNet")
    parser.add_argument("--connections", action="store_true",
                        help="add LeNet-5's connections column (shown by default for models that define it)")
    add_model_kwargs(parser)
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..inspect.tables import has_paper_table, render_summary, summary, table1

    if args.depth < 1:
        raise UserError(f"--depth must be at least 1, got {args.depth}")
    if args.input_size is not None and args.input_size < 1:
        raise UserError(f"--input-size must be a positive number of pixels, got {args.input_size}")
    info = model_info(args.model)
    kwargs = model_kwargs_from(args)
    model = create_model(args.model, **kwargs)
    size = args.input_size or (32 if kwargs.get("small_input") else info.input_size)
    result = summary(model, size, depth=args.depth, name=args.model)
    paper_table = not args.layers and args.depth == 1
    if args.json:
        data = result.as_dict()
        if paper_table and has_paper_table(model):
            data["table1"] = table1(result, model)
        print(to_json(data))
        return 0
    print(render_summary(result, model, paper_table=paper_table, connections=args.connections,
                         ref_params=info.params, ref_macs=info.macs))
    return 0
