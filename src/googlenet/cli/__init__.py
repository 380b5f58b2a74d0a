"""``googlenet`` command line: a thin layer over the library.

Each subcommand lives in its own module here and defines ``register(subparsers)``, which adds its
parser and sets ``func`` (called with the parsed arguments, returns an exit code or None). Modules
are discovered automatically, so a new command is a new file.

Errors: a :class:`~googlenet.errors.UserError` (or a missing/unreadable file) prints one line,
``googlenet: error: <problem>; <fix>``, and exits with code 2. ``--debug`` (anywhere on the line)
shows the traceback instead. A bad flag or value is one line too (no usage block), naming the command's
``--help``.

Building the parser imports no torch (``googlenet --help`` answers at once): each command module imports
what it runs inside its run function, and its choices come from torch-free modules or are checked at run
time (``tests/test_cli.py`` holds it to that).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from ..errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line and exit 2, not the usage block first."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="googlenet",
        description="GoogLeNet (Inception v1) exactly as the paper, its successors and the CNNs it is "
        "measured against: build, inspect, train, evaluate, compare, deploy.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"googlenet {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        if debug:
            raise
        # One line, all of it: a library's message that runs over lines keeps its fix (docs/robustness.md).
        message = " ".join(str(exc).split()) or exc.__class__.__name__
        print(f"googlenet: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("googlenet: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `googlenet predict ... | head`: the reader has seen enough
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 141
    except Exception as exc:
        if debug:
            raise
        print(f"googlenet: internal error: {exc.__class__.__name__}: {exc} "
              "(this is a bug; rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
