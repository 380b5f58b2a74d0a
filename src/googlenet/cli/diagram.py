"""``googlenet diagram MODEL``: Figure 3's drawing of any registered model (or a model file), from its modules."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_json_flag, add_model_kwargs, model_kwargs_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagram", help="architecture diagram (Figure 3 style) as SVG/PNG, via Graphviz",
        description="Boxes and arrows from the real module graph: the stem, each inception module with its "
                    "Table 1 numbers (or, with --expanded, its four branches), the auxiliary heads, the pools.")
    parser.add_argument("model", help="registry name (see `googlenet models`), model file or run folder")
    parser.add_argument("--expanded", action="store_true", help="draw every branch of every module")
    parser.add_argument("--format", default="svg,png", help="comma-separated: svg, png, pdf, dot (default svg,png)")
    parser.add_argument("--out", "-o", default=None, help="output path without suffix (default ./MODEL-diagram)")
    parser.add_argument("--input-size", type=int, default=None, help="image side (default: the model's native)")
    parser.add_argument("--bottom-up", action="store_true", help="input at the bottom, as Figure 3 is printed")
    parser.add_argument("--no-shapes", action="store_true", help="leave the output shapes out of the boxes")
    add_model_kwargs(parser)
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..visualize.diagram import build_diagram

    source = args.model
    kwargs = model_kwargs_from(args)
    if Path(source).exists():
        from ..weights.checkpoint import load_model

        loaded = load_model(source)
        model, name = loaded, loaded.model_name
        size = args.input_size or loaded.preprocessing.input_size
        kwargs = {}
    else:
        model, name, size = source, source, args.input_size
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    diagram = build_diagram(model, mode="expanded" if args.expanded else "compact", input_size=size,
                            shapes=not args.no_shapes, rankdir="BT" if args.bottom_up else "TB", **kwargs)
    out = args.out or f"{name}-diagram{'-expanded' if args.expanded else ''}"
    written = diagram.render(out, formats)
    if args.json:
        from ..system.text import to_json

        print(to_json({"model": name, "written": [str(p) for p in written], "traced": diagram.traced}))
        return 0
    for path in written:
        print(f"wrote {path}")
    if not diagram.traced:
        print("note: the forward pass could not be traced; the blocks are drawn in registration order")
    return 0
