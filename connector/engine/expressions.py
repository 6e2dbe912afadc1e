"""SQL expressions from playbooks, parsed by polars' SQL parser into vectorised expressions.

Never `eval`: the parser accepts SQL only, and we check every column it names exists. What
polars refuses (text compared with a number, a broken regular expression, a CAST that cannot
hold) is put into a sentence a RevOps admin can act on, quoting polars' own short reason.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import polars as pl

from connector.engine.comparisons import meaningless_comparison
from connector.errors import ExpressionError
from connector.names import describe_unknown, valid_names

# A condition a reviewer can still read fits in 2,000 characters (about 25 lines); the check
# comes before parsing, so a 20,000-term chain (which crashes the parser) is never parsed.
MAX_EXPRESSION_CHARS = 2_000
# polars' optimiser costs grow with the square of an expression's size, not with the rows.
# Measured on 100,000 accounts (benchmarks machine, polars 2.1): 50 column references take
# 5 ms for one rule and 0.15 s for 30 such rules; 100 take 15 ms and 0.3-0.6 s; 200 take
# 60 ms and 1.5-1.9 s; 3,000 took 47 s. 50 keeps the worst legal playbook inside the
# "100,000 accounts x 30 rules well under a second" bar; `IN (...)` lists cost one reference.
MAX_COLUMN_REFERENCES = 50
# What polars raises for an expression it cannot evaluate; a panic is not an Exception.
POLARS_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException)
_QUOTED_VALUES = re.compile(r":\s*\[[^\]]*\]")  # `…for 80 values: ["Acme", …]`
QUOTED_CHARS = 80
_PROBE = "__cs_connector_probe__"
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_SUBQUERY = re.compile(r"\bselect\b", re.IGNORECASE)
# How polars prints CAST(column AS type): the column straight into a strict cast.
_DIRECT_CAST = re.compile(r'col\("([^"]+)"\)\.strict_cast\((\w+)')


def compile_sql(sql: str, columns: Collection[str]) -> pl.Expr:
    """Parse `sql` once; reject unknown columns with the list of names that do exist."""
    if len(sql) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"{quote(sql)} is {len(sql):,} characters long; an expression may have at most "
            f"{MAX_EXPRESSION_CHARS:,}. Split it into several rules, or use IN (...) lists."
        )
    if _SUBQUERY.search(_STRING_LITERAL.sub("''", sql)):
        raise ExpressionError(
            f"{quote(sql)} contains a subquery (SELECT ...); an expression can only use "
            "the account's own columns."
        )
    try:
        expr = pl.sql_expr(sql)
    except POLARS_ERRORS as exc:
        raise ExpressionError(f"cannot read the expression {quote(sql)}: {reason(exc)}") from None
    names = expr.meta.root_names()
    if len(names) > MAX_COLUMN_REFERENCES:
        raise ExpressionError(
            f"{quote(sql)} names columns {len(names):,} times; an expression may name at most "
            f"{MAX_COLUMN_REFERENCES} (longer ones slow down every run). Use "
            "column IN (...) instead of many ORs, or split the rule."
        )
    unknown = set(names) - set(columns)
    if unknown:
        raise ExpressionError(
            f"{describe_unknown(unknown, columns)} in '{sql}'. Valid names: {valid_names(columns)}"
        )
    return expr


def result_type(sql: str, expr: pl.Expr, table: pl.DataFrame) -> pl.DataType:
    """The type `expr` has over `table` (typed like the account table: no rows, or a row of
    NULLs), as polars resolves it; polars' refusal becomes an `ExpressionError` in words.

    Values are not known before a run, so what fails only for some values is not found
    here, with one exception: CAST straight from a text column to a number or date, which
    fails as soon as one account holds something else, is refused in favour of TRY_CAST.
    A run leaves out (and reports) a rule that still fails on its data.
    """
    try:
        table.head(0).with_columns(expr.alias(_PROBE))
        dtype = table.with_columns(expr.alias(_PROBE)).schema[_PROBE]
    except POLARS_ERRORS as exc:
        raise ExpressionError(explain(sql, exc, table.schema)) from None
    meaningless = meaningless_comparison(expr, table)
    if meaningless:
        raise ExpressionError(f"{quote(sql)} {meaningless}.")
    for column, target in _DIRECT_CAST.findall(str(expr)):
        if table.schema.get(column) != pl.String or target in ("String", "Utf8"):
            continue
        if target.startswith("Date"):
            raise ExpressionError(
                f"{quote(sql)} uses CAST on the text column '{column}'; text cannot be CAST to "
                "a date. Compare date columns (contract_start, renewal_date...) with "
                "DATE '2027-03-01' instead."
            )
        raise ExpressionError(
            f"{quote(sql)} uses CAST on the text column '{column}', which stops the rule "
            f"as soon as one account's {column} is not {_kind(target)}. Use "
            f"TRY_CAST({column} AS ...), which gives NULL for such values."
        )
    return dtype


def explain(sql: str, error: BaseException, schema: Mapping[str, pl.DataType]) -> str:
    """What polars' refusal of `sql` means, in a sentence, with polars' short reason."""
    text = str(error)
    said = f"(polars: {reason(error)})"
    where = quote(sql)
    if "compare string with numeric" in text:
        texts = [name for name in _names(sql) if schema.get(name) == pl.String]
        if len(texts) == 1:
            name = texts[0]
            return (
                f"cannot compare text column '{name}' with a number in {where} {said}. Compare "
                f"it with text in quotes or, if '{name}' holds numbers, use "
                f"TRY_CAST({name} AS DOUBLE)."
            )
        return f"cannot compare text with a number in {where} {said}."
    if "regex" in text:
        return f"{where} has an invalid regular expression {said}."
    if "conversion from `str`" in text:
        return (
            f"{where} uses CAST on text that is not always a number or date {said}; one such "
            "account would stop the rule. Use TRY_CAST(... AS ...), which gives NULL instead."
        )
    if "compare 'date/datetime/time' to a string" in text:
        return (
            f"cannot compare a date with text in {where} {said}. Write the date as "
            "DATE '2027-03-01'."
        )
    if "is_in" in text:
        return f"the values in IN (...) are not of the column's kind in {where} {said}."
    return f"{where} cannot be evaluated on the account table {said}."


def describe_type(dtype: pl.DataType) -> str:
    """A data type as RevOps would say it: a number, text, a date, true or false…"""
    if dtype == pl.Boolean:
        return "true or false"
    if dtype.is_numeric():
        return "a number"
    if dtype == pl.String:
        return "text"
    if dtype.is_temporal():
        return "a date"
    if dtype == pl.Null:
        return "always NULL"
    if dtype.is_nested():
        return "a list"
    return f"of type {dtype}"


def reason(error: BaseException) -> str:
    """polars' own explanation, shortened to its first meaningful line, without the sample
    of values polars quotes (customer data does not belong in logs)."""
    text = _QUOTED_VALUES.sub("", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith("error:")), None)
    short = lines[0] if lines else type(error).__name__
    if detail and detail not in short:
        short = f"{short.rstrip(':')}: {detail.removeprefix('error:').strip()}"
    return short if len(short) <= 200 else short[:199] + "…"


def _kind(polars_type: str) -> str:
    """A cast's target type as polars prints it (Int32, Float64, Boolean), in words."""
    if polars_type.startswith(("Int", "UInt")):
        return "a whole number"
    if polars_type.startswith(("Float", "Decimal")):
        return "a number"
    return "true or false" if polars_type == "Boolean" else f"a {polars_type}"


def _names(sql: str) -> list[str]:
    """The columns `sql` names, each once, in order of appearance."""
    try:
        return list(dict.fromkeys(pl.sql_expr(sql).meta.root_names()))
    except POLARS_ERRORS:
        return []


def quote(sql: str) -> str:
    """`sql` in quotes (double ones when it has text in single quotes), shortened when it is
    long (the line number says where it is)."""
    flat = " ".join(sql.split())
    shown = flat if len(flat) <= QUOTED_CHARS else f"{flat[: QUOTED_CHARS - 1]}…"
    return f'"{shown}"' if "'" in shown else f"'{shown}'"
