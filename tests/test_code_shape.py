"""Every function in src/googlenet is short enough to read: at most 60 lines and 8 parameters.

Options that travel together go in a dataclass (the models' ``*Options``, ``LoadRequest``, ``RandomCrops``...);
a dataclass's generated ``__init__`` is no function in the source, so nothing here needs exempting.
Parameters are counted as a caller passes them: positional and keyword ones, not ``self``/``cls`` nor
``*args``/``**kwargs``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "googlenet"
MAX_LINES = 60
MAX_PARAMETERS = 8


def functions() -> list[tuple[str, int, str, int, int]]:
    """(file, line, name, lines, parameters) of every function and method under ``SOURCE``."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                count = len([n for n in names if n not in ("self", "cls")])
                found.append((str(path.relative_to(SOURCE.parent)), node.lineno, node.name,
                              node.end_lineno - node.lineno + 1, count))
    return found


def test_the_scan_sees_the_source():
    names = {name for _, _, name, _, _ in functions()}
    assert {"create_model", "load_dataset", "load_model"} <= names


def test_no_function_is_over_60_lines_or_8_parameters():
    offenders = [f"{file}:{line} {name}: {lines} lines, {params} parameters"
                 for file, line, name, lines, params in functions() if lines > MAX_LINES or params > MAX_PARAMETERS]
    assert not offenders, (f"{len(offenders)} functions over {MAX_LINES} lines or {MAX_PARAMETERS} parameters "
                           "(split them; group options that travel together in a dataclass):\n"
                           + "\n".join(offenders))
