"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UserError


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")


def add_model_kwargs(parser: argparse.ArgumentParser) -> None:
    """The options every model builder takes."""
    parser.add_argument("--num-classes", type=int, default=None, help="classifier size (default: the model's)")
    parser.add_argument("--in-channels", type=int, default=None, help="image channels (3 RGB, 1 grey)")
    parser.add_argument("--width", type=float, default=None, help="channel-width multiplier (default 1.0)")
    parser.add_argument("--small-input", action="store_true", help="small-image stem (28x28, 32x32 inputs)")
    parser.add_argument("--no-aux", action="store_true", help="build without auxiliary classifiers")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="any other builder argument, VALUE parsed as JSON (repeatable)")


def model_kwargs_from(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if getattr(args, "num_classes", None) is not None:
        kwargs["num_classes"] = args.num_classes
    if getattr(args, "in_channels", None) is not None:
        kwargs["in_channels"] = args.in_channels
    if getattr(args, "width", None) is not None:
        kwargs["width"] = args.width
    if getattr(args, "small_input", False):
        kwargs["small_input"] = True
    if getattr(args, "no_aux", False):
        kwargs["aux_logits"] = False
    kwargs.update(parse_key_values(getattr(args, "model_arg", []), "--model-arg", "dropout=0.2"))
    return kwargs


def parse_key_values(items: list[str], flag: str, example: str) -> dict[str, Any]:
    """``["lr=0.1", "name=x"]`` -> ``{"lr": 0.1, "name": "x"}``: values parsed as JSON, else kept as text."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} expects KEY=VALUE, got {item!r}; e.g. {flag} {example}")
        try:
            parsed[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.replace("-", "_")] = value
    return parsed
