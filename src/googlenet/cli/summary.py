"""``googlenet summary MODEL``: per-layer table measured from the real modules.

For GoogLeNet it is printed in the layout of the paper's Table 1, with the paper's printed params and
ops beside the measured ones; rows where they differ by more than 5% are marked.
"""

from __future__ import annotations

import argparse

from ..inspect.tables import ModelSummary, summary, table1
from ..models.registry import create_model, model_info
from ._common import add_json_flag, add_model_kwargs, model_kwargs_from
from ._format import format_table, human, to_json


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
    from ..models.googlenet import GoogLeNet

    if args.depth < 1:
        raise UserError(f"--depth must be at least 1, got {args.depth}")
    if args.input_size is not None and args.input_size < 1:
        raise UserError(f"--input-size must be a positive number of pixels, got {args.input_size}")
    info = model_info(args.model)
    kwargs = model_kwargs_from(args)
    model = create_model(args.model, **kwargs)
    size = args.input_size or (32 if kwargs.get("small_input") else info.input_size)
    result = summary(model, size, depth=args.depth, name=args.model)
    use_table1 = isinstance(model, GoogLeNet) and not args.layers and args.depth == 1
    table = table1(result, model) if use_table1 else None
    if args.json:
        data = result.as_dict()
        if table is not None:
            data["table1"] = table
        print(to_json(data))
        return 0
    if table is not None:
        print(_format_table1(table, result))
    else:
        show_connections = args.connections or any(hasattr(m, "connections") for m in model.modules())
        print(_format_layers(result, show_connections))
    print(_totals(result, info.params, info.macs))
    return 0


def _format_table1(table: list[dict], result: ModelSummary) -> str:
    rows = []
    for r in table:
        rows.append({
            **{k: r[k] for k in ("type", "patch size/stride", "output size", "depth", "#1x1", "#3x3 reduce",
                                 "#3x3", "#5x5 reduce", "#5x5", "pool proj")},
            "params": human(r["params"]) if r["params"] else "",
            "ops": human(r["ops"]) if r["ops"] else "",
            "paper params": human(r["paper params"]) if r["paper params"] else "",
            "paper ops": human(r["paper ops"]) if r["paper ops"] else "",
            "": "*" if r["differs"] else "",
        })
    for row in rows:
        for key, value in row.items():
            if value is None:
                row[key] = ""
    title = (f"{result.model}: Table 1 of Szegedy et al. 2014, measured at {result.input_size[1]}x"
             f"{result.input_size[2]} (ops = multiply-adds); * = measured differs from the paper's print by >5%")
    note = ("The printed table does not add up everywhere (conv1: 7x7x3x64 weights are 9.4K, not 2.7K; "
            "4c and 5a also differ); the model follows the layer definitions, not the printed totals.")
    return format_table(rows, title=title) + "\n" + note


def _format_layers(result: ModelSummary, connections: bool) -> str:
    rows = []
    for r in result.rows:
        row = {
            "layer": r.name + (" (aux)" if r.auxiliary else ""),
            "type": r.type,
            "patch/stride": r.kernel,
            "output": "x".join(map(str, r.output_shape)) if r.output_shape else "-",
            "params": r.params,
            "mult-adds": r.macs,
        }
        if connections:
            row["connections"] = r.connections
        rows.append(row)
    return format_table(rows, title=f"{result.model} at {'x'.join(map(str, result.input_size))}")


def _totals(result: ModelSummary, ref_params: int | None, ref_macs: float | None) -> str:
    lines = [f"total: {result.params:,} params, {result.macs / 1e9:.3f} G multiply-adds per image"]
    if result.aux_params:
        lines.append(f"  without auxiliary classifiers: {result.params_without_aux:,} params "
                     f"(aux heads: {result.aux_params:,} params, {result.aux_macs / 1e6:.1f} M multiply-adds, "
                     "training only)")
    if ref_params:
        lines.append(f"  reference: {ref_params:,} params" + (f", {ref_macs:.3g} G multiply-adds" if ref_macs else "")
                     + " (registry; default build at the native input size)")
    return "\n".join(lines)
