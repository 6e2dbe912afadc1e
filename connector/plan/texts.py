"""Task and Slack texts written a column at a time, for templates simple enough to allow it.

A first run at 100,000 accounts creates about 200,000 tasks, and their subjects name the
account, so no two rows render the same: rendering each row took half of the planning
time. Most task templates are literal text and `{{ column | filter }}` only; their text
is then the joined texts of their parts, and each expression's text depends on one
column's value alone. So each expression is rendered once per distinct value (by the same
Jinja environment, filters, language and currency), the texts are joined back to the rows
by polars, and the whole is stripped as `str.strip()` strips. A row this cannot promise
the exact text for (an expression fails on its value, the text is over the limit) is
null here, and rendered on its own as before, which then gives the same error.
"""

from __future__ import annotations

import polars as pl

from connector.errors import TemplateError
from connector.language import Language
from connector.templates import Expression, simple_parts, written_expression

# What `str.strip()` strips: the characters whose `str.isspace()` is true. Polars' own
# whitespace (Unicode White_Space) lacks \x1c-\x1f, so it is named here in full.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Column types whose values reach a template as plain Python values, hashable, and whose
# distinct values polars tells apart as Python does (floats by their text: see `_key`).
_SCALAR = (pl.String, pl.Boolean, pl.Date, pl.Datetime, pl.Null)


def written_column(
    source: str, rows: pl.DataFrame, *, limit: int, language: Language, currency: str | None
) -> pl.Series | None:
    """Each row's text of `source`, exactly as `render` writes it for the row; null where
    only a render of the row can say. None: the template is not simple, or reads a column
    `rows` lacks or of a type not written here; every row is rendered on its own then."""
    parts = simple_parts(source)
    if parts is None or not all(_columnar(p, rows.schema) for p in parts if _is_expr(p)):
        return None
    if not any(_is_expr(p) for p in parts):
        literal = "".join(str(p) for p in parts)
        text = literal.strip() if len(literal) <= limit else None
        return pl.repeat(text, rows.height, dtype=pl.String, eager=True)
    pieces = pl.DataFrame(
        [
            _expression_texts(p, rows[p.column], limit, language, currency).alias(f"_{i}")
            for i, p in enumerate(parts)
            if isinstance(p, Expression)
        ]
    )
    joined = pl.concat_str(
        [pl.col(f"_{i}") if _is_expr(p) else pl.lit(p, pl.String) for i, p in enumerate(parts)]
    )
    fits = joined.str.len_chars() <= limit
    stripped = pl.when(fits).then(joined.str.strip_chars(PYTHON_WHITESPACE))
    return pieces.select(stripped.alias("text")).to_series()


def _is_expr(part: str | Expression) -> bool:
    return isinstance(part, Expression)


def _columnar(part: str | Expression, schema: pl.Schema) -> bool:
    if not isinstance(part, Expression) or part.column not in schema:
        return False
    dtype = schema[part.column]
    return dtype.is_integer() or dtype.is_float() or isinstance(dtype, _SCALAR)


def _expression_texts(
    expression: Expression,
    column: pl.Series,
    limit: int,
    language: Language,
    currency: str | None,
) -> pl.Series:
    """The expression's text for each row, rendered once per distinct value; null where
    it failed for the value."""
    if not expression.filtered and (column.dtype.is_integer() or column.dtype == pl.String):
        return column.cast(pl.String).fill_null("None")  # Jinja writes str(value)
    values = pl.DataFrame({"key": _key(column), "value": column}).unique("key", keep="first")
    texts = [
        _text_or_none(expression, value, limit, language, currency)
        for value in values["value"].to_list()
    ]
    table = values.select("key", pl.Series("text", texts, pl.String))
    keys = pl.DataFrame({"key": _key(column)})
    found = keys.join(table, on="key", how="left", nulls_equal=True, maintain_order="left")
    return found["text"]


def _key(column: pl.Series) -> pl.Series:
    """Polars holds -0.0 equal to 0.0, which Python writes apart: floats are told apart by
    their shortest round-trip text instead (NaNs share one, as they share Python's 'nan')."""
    return column.cast(pl.String) if column.dtype.is_float() else column


def _text_or_none(
    expression: Expression, value: object, limit: int, language: Language, currency: str | None
) -> str | None:
    try:
        text = written_expression(
            expression, value, limit=limit, language=language, currency=currency
        )
        text.encode()  # a lone surrogate has no place in a polars string
    except (TemplateError, UnicodeEncodeError):
        return None
    return text
