"""Comparisons polars evaluates without complaint but that mean nothing: a date against a
number (`renewal_date > 5` compares the date's day count since 1970 with 5, true for every
account) or a time span against a number (`renewal_date - run_date > 30` compares
microseconds with 30). `validate` knows each column's type from the mapping, so it refuses
them at their line instead of letting every run silently fire or never fire the rule.

The expression tree is read from polars' own JSON serialisation of the parsed expression;
a tree shape this module does not know is left to polars (no check, never a crash).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import polars as pl

_COMPARISONS = frozenset({"Eq", "NotEq", "Lt", "LtEq", "Gt", "GtEq", "EqValidity", "NotEqValidity"})
_PROBE = "__cs_connector_side__"


def meaningless_comparison(expr: pl.Expr, table: pl.DataFrame) -> str | None:
    """Why a comparison inside `expr` means nothing on `table`'s types, or None."""
    try:
        tree = json.loads(expr.meta.serialize(format="json"))
    except (pl.exceptions.PolarsError, ValueError, TypeError):
        return None
    for left, right in _compared(tree):
        kinds = (_kind(left, table), _kind(right, table))
        if "date" in kinds and "number" in kinds:
            date_side = left if kinds[0] == "date" else right
            return (
                f"compares the date {_name(date_side)} with a number. Compare it with a date "
                "(DATE '2027-03-01', run_date + INTERVAL '90 days') or use a day count such "
                "as days_until_renewal"
            )
        if "span" in kinds and "number" in kinds:
            return (
                "compares a time span (one date minus another) with a number. Compare it with "
                "INTERVAL '30 days', or use a day count such as days_until_renewal"
            )
    return None


def _compared(node: Any) -> Iterator[tuple[Any, Any]]:
    """(left, right) of every comparison in the serialised tree, outermost first."""
    if isinstance(node, dict):
        binary = node.get("BinaryExpr")
        if isinstance(binary, dict) and binary.get("op") in _COMPARISONS:
            yield binary.get("left"), binary.get("right")
        for child in node.values():
            yield from _compared(child)
    elif isinstance(node, list):
        for child in node:
            yield from _compared(child)


def _kind(side: Any, table: pl.DataFrame) -> str | None:
    """'date', 'span', 'number' or None (anything else, or a side polars cannot type)."""
    try:
        expr = pl.Expr.deserialize(io.StringIO(json.dumps(side)), format="json")
        dtype = table.head(0).select(expr.alias(_PROBE)).schema[_PROBE]
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError, TypeError):
        return None
    if dtype in (pl.Date, pl.Datetime):
        return "date"
    if dtype == pl.Duration:
        return "span"
    return "number" if dtype.is_numeric() else None


def _name(side: Any) -> str:
    column = side.get("Column") if isinstance(side, dict) else None
    return f"'{column}'" if isinstance(column, str) else "expression"
