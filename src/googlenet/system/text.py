"""Output for people (aligned tables) and machines (JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any


def human(n: float | None, *, digits: int = 3) -> str:
    """12_345_678 -> '12.3M'; None -> '-'."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.{digits}g}{unit}"
    return f"{n:.{digits}g}" if isinstance(n, float) else str(n)


def shape_text(shape: Sequence[int] | None) -> str:
    """A tensor shape per image as the paper's Table 1 writes its "output size": (C, H, W) -> 'HxWxC'
    ('28x28x256'); other ranks as they are ('1024'). The one convention of summary, diagram and report."""
    if not shape:
        return "-"
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


def in_unit(n: float | None, unit: str, *, decimals: int = 3) -> str:
    """``n`` in one fixed ``unit`` (K, M or G; the column's header names it), with fixed ``decimals`` so a
    column reads at a glance: 724e6 in G -> '0.724'; a value too small for them keeps 3 significant
    figures (326e3 -> '0.000326'); None -> '-'."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    value = n / {"K": 1e3, "M": 1e6, "G": 1e9}[unit]
    return f"{value:.{decimals}f}" if value == 0 or abs(value) >= 10 ** -decimals else f"{value:.3g}"


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, *,
                 headers: dict[str, str] | None = None, title: str | None = None) -> str:
    """Align ``rows`` (dicts) under ``columns``; numbers right-aligned, text left-aligned."""
    columns = list(columns or (rows[0].keys() if rows else []))
    headers = headers or {}
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    head = [headers.get(col, col) for col in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)]
    numeric = [all(_is_number(row.get(col)) for row in rows if row.get(col) not in (None, "")) for col in columns]

    def line(values: Iterable[str]) -> str:
        parts = zip(values, widths, numeric, strict=True)
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in parts).rstrip()

    out = [title] if title else []
    out += [line(head), line("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def markdown_table(rows: Sequence[dict[str, Any]], *, align: str = "---") -> str:
    """``rows`` (dicts, the first one's keys as columns) as a markdown table; ``align`` is every column's
    separator cell ("---:" right-aligns)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(align for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def _is_number(value: Any) -> bool:
    """A number, or a number already formatted ("0.724", "1,234"), so such columns align right too."""
    if isinstance(value, str):
        try:
            float(value.replace(",", ""))
        except ValueError:
            return value == "-"
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)
