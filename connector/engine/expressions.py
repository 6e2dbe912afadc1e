"""SQL expressions from playbooks, parsed by polars' SQL parser into vectorised expressions.

Never `eval`: the parser accepts SQL only, and we check every column it names exists.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from connector.errors import ExpressionError
from connector.names import describe_unknown, valid_names


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
