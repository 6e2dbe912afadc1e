"""Task and Slack texts written a column at a time, for templates simple enough to allow it.

A first run at 100,000 accounts creates about 200,000 tasks, and their subjects name the
account, so no two rows render the same: rendering each row took half of the planning
time. Most task templates are literal text, `{{ column | filter }}` and an `{% if %}` or
two whose expressions each read one column (`templates.simple_parts`); their text is then
the joined texts of their parts (of a choice, the branch taken), and each expression's
text, each choice's test, depends on one column's value alone. So each is rendered once
per distinct value (by the same Jinja environment, filters, language and currency), the
results are joined back to the rows by polars, and the whole is stripped as `str.strip()`
strips. A row this cannot promise
the exact text for (an expression fails on its value, the text is over the limit) is
null here, and rendered on its own as before, which then gives the same error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from connector.errors import TemplateError
from connector.language import Language
from connector.templates import (
    Choice,
    Expression,
    SimplePart,
    simple_parts,
    written_expression,
)

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
    if parts is None or not all(_columnar(p.column, rows.schema) for p in _walk(parts)):
        return None
    if not _walk(parts):
        literal = "".join(str(p) for p in parts)
        text = literal.strip() if len(literal) <= limit else None
        return pl.repeat(text, rows.height, dtype=pl.String, eager=True)
    pieces = pl.DataFrame(
        [
            _texts(p, rows[p.column], limit, language, currency).alias(f"_{i}")
            for i, p in enumerate(_walk(parts))
        ]
    )
    names = {id(p): f"_{i}" for i, p in enumerate(_walk(parts))}
    joined = _joined(parts, names)
    fits = joined.str.len_chars() <= limit
    stripped = pl.when(fits).then(joined.str.strip_chars(PYTHON_WHITESPACE))
    return pieces.select(stripped.alias("text")).to_series()


def _walk(parts: tuple[SimplePart, ...]) -> list[Expression]:
    """The template's expressions and choices' tests, depth first."""
    found: list[Expression] = []
    for part in parts:
        if isinstance(part, Choice):
            found += [part.test, *_walk(part.then), *_walk(part.otherwise)]
        elif isinstance(part, Expression):
            found.append(part)
    return found


def _joined(parts: tuple[SimplePart, ...], names: dict[int, str]) -> pl.Expr:
    """The parts' texts joined: null if the text of a part written is null."""
    pieces = [_piece(part, names) for part in parts]
    return pl.concat_str(pieces) if pieces else pl.lit("", pl.String)


def _piece(part: SimplePart, names: dict[int, str]) -> pl.Expr:
    if isinstance(part, str):
        return pl.lit(part, pl.String)
    if isinstance(part, Expression):
        return pl.col(names[id(part)])
    test = pl.col(names[id(part.test)])  # null: the test failed, so does the row's text
    chosen = pl.when(test == "1").then(_joined(part.then, names))
    return pl.when(test.is_not_null()).then(chosen.otherwise(_joined(part.otherwise, names)))


def _columnar(column: str, schema: pl.Schema) -> bool:
    if column not in schema:
        return False
    dtype = schema[column]
    return dtype.is_integer() or dtype.is_float() or isinstance(dtype, _SCALAR)


def _texts(
    expression: Expression,
    column: pl.Series,
    limit: int,
    language: Language,
    currency: str | None,
) -> pl.Series:
    """The expression's text for each row, worked out once per distinct value; null where
    it failed for the row's value."""
    if expression.bare and (column.dtype.is_integer() or column.dtype == pl.String):
        return column.cast(pl.String).fill_null("None")  # Jinja writes str(value)
    return _per_value(
        column, lambda value: _text_or_none(expression, value, limit, language, currency)
    )


def _per_value(column: pl.Series, function: Callable[[Any], str | None]) -> pl.Series:
    """`function` of each row's value, called once per distinct value (a missing one too)."""
    keys = pl.DataFrame({"key": _key(column), "value": column})
    values = keys.drop_nulls("key").unique("key", keep="first")
    results = [function(value) for value in values["value"].to_list()]
    table = values.select("key", pl.Series("result", results, pl.String))
    found = keys.join(table, on="key", how="left", maintain_order="left")["result"]
    if not column.has_nulls():
        return found
    missing = pl.when(column.is_null()).then(pl.lit(function(None), pl.String))
    return pl.select(missing.otherwise(found).alias("result")).to_series()


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
