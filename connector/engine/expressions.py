"""SQL expressions from playbooks, parsed by polars' SQL parser into vectorised expressions.

Never `eval`: the parser accepts SQL only, and we check every column it names exists.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

import polars as pl


class ExpressionError(ValueError):
    """An expression that does not parse or names columns the table does not have."""


def compile_sql(sql: str, columns: Collection[str]) -> pl.Expr:
    """Parse `sql` once; reject unknown columns with the list of names that do exist."""
    try:
        expr = pl.sql_expr(sql)
    except (pl.exceptions.SQLInterfaceError, pl.exceptions.SQLSyntaxError) as exc:
        raise ExpressionError(f"cannot read the expression '{sql}': {exc}") from None
    unknown = set(expr.meta.root_names()) - set(columns)
    if unknown:
        raise ExpressionError(
            f"{describe_unknown(unknown, columns)} in '{sql}'. Valid names: {valid_names(columns)}"
        )
    return expr


def describe_unknown(unknown: Iterable[str], columns: Collection[str]) -> str:
    """ "unknown column 'scout_sent' (did you mean 'scouts_sent'?)" for each name."""
    parts = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, list(columns), n=1)
        parts.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return ("unknown column " if len(parts) == 1 else "unknown columns ") + ", ".join(parts)


def valid_names(columns: Collection[str]) -> str:
    return ", ".join(sorted(c for c in columns if not c.startswith("_")))
