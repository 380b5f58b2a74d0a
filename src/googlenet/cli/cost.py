"""``googlenet cost``: the papers' cost arithmetic, measured on real layers.

The 1x1 bottleneck (GoogLeNet section 4) and Inception-v3's factorizations (Rethinking..., section 3).
"""

from __future__ import annotations

import argparse

from ..system.text import format_table, to_json
from ._common import add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cost", help="what the 1x1 bottleneck and the v3 factorizations save")
    parser.add_argument("--in", dest="in_channels", type=int, default=480, help="input channels (default 480)")
    parser.add_argument("--out", dest="out_channels", type=int, default=48, help="5x5 output channels (48)")
    parser.add_argument("--reduce", type=int, default=16, help="1x1 reduction width (default 16)")
    parser.add_argument("--size", type=int, default=14, help="grid side (default 14, as at inception 4a)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..inspect.cost import bottleneck_cost, factorization_costs

    comparisons = [
        bottleneck_cost(args.in_channels, args.out_channels, args.reduce, args.size),
        *factorization_costs(),
    ]
    if args.json:
        print(to_json([c.as_dict() for c in comparisons]))
        return 0
    rows = []
    for c in comparisons:
        parts = " + ".join(f"{m / 1e6:.1f}M" for _, m in c.alternative_parts)
        rows.append({
            "comparison": c.name,
            "grid": f"{c.grid}x{c.grid}",
            "baseline": c.baseline,
            "mult-adds": f"{c.baseline_macs / 1e6:.1f}M",
            "alternative": c.alternative,
            "alt. mult-adds": f"{parts} = {c.alternative_macs / 1e6:.1f}M",
            "saving": f"{100 * c.saving:.0f}% fewer ({c.baseline_macs / c.alternative_macs:.1f}x)",
            "paper": c.paper_saving,
            "source": c.source,
        })
    print(format_table(rows, title="Multiply-adds measured with torch.utils.flop_counter on real layers"))
    return 0
