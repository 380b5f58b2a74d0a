"""``googlenet export``: ONNX / TorchScript / ExportedProgram with dynamic batch, no aux heads, metadata."""

from __future__ import annotations

import argparse

from ..deploy.formats import FORMATS
from ._common import add_force_flag, add_json_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a model file to ONNX, TorchScript or a torch.export program",
        description="Dynamic batch size, auxiliary heads dropped, class names and preprocessing stored as "
                    "metadata. The export is run once on a random batch and compared with PyTorch.")
    parser.add_argument("checkpoint", help="a model file or run folder")
    parser.add_argument("--format", "-f", default="onnx", choices=FORMATS)
    parser.add_argument("--output", "-o", default=None, help="output file (default: beside the checkpoint)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    parser.add_argument("--no-check", action="store_true", help="skip running the export against PyTorch")
    add_force_flag(parser, "--output")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..deploy.export import export_model
    from ..system.text import to_json

    result = export_model(args.checkpoint, args.output, format=args.format, opset=args.opset,
                          check=not args.no_check, force=args.force)
    if args.json:
        print(to_json(result.as_dict()))
        return 0
    pre = result.metadata["preprocessing"]
    print(f"wrote {result.path} ({result.format}): {result.metadata['model']}, input (N, {pre['channels']}, "
          f"{pre['input_size']}, {pre['input_size']}) normalized with mean {pre.get('mean')} std {pre.get('std')}, "
          f"{len(result.metadata['class_names'] or [])} class names")
    if result.max_abs_diff is not None:
        print(f"checked on a batch of 3: max |exported - PyTorch| = {result.max_abs_diff:.2e}")
    return 0
