"""A CRM's yes/no values as booleans: one reading for every place that decides on them.

A checkbox comes as a boolean from one CRM, as text from another ("true", "FALSE", "1",
"yes") and as text again from a custom field or a CSV import. Python's truth of a text
("false" is a non-empty string, so true) is never the reading: `True`, "true", "1", "yes"
(any case, spaces around) are set; `False`, "false", "0", "no", "" and no value are not.
Anything else ("unknown", "2", "N/A") is read the safe way for the flag: an unknown
`opted_out` is opted out (an email to someone who asked for none cannot be taken back),
an unknown `primary` is not primary.
"""

from __future__ import annotations

import polars as pl

SET = ("true", "1", "yes")
UNSET = ("false", "0", "no", "")
# flag → how a value outside SET and UNSET is read
CONTACT_FLAGS = {"primary": False, "opted_out": True}


def crm_flag(value: object, *, unknown: bool) -> bool:
    """One value as `flag_expr` reads it, for code that holds a row, not a frame."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return _numeric_flag(value, unknown)
    word = str(value).strip().lower()
    if word in SET:
        return True
    return False if word in UNSET else unknown


def flag_expr(schema: pl.Schema, column: str, *, unknown: bool) -> pl.Expr:
    """The column as a Boolean by `crm_flag`'s reading, whatever its type; a column the
    frame does not have is not set."""
    if column not in schema:
        return pl.lit(False)
    dtype, value = schema[column], pl.col(column)
    if dtype == pl.Boolean:
        return value.fill_null(False)
    if dtype.is_numeric():
        return (
            pl.when(value.is_null() | (value == 0))
            .then(False)
            .when(value == 1)
            .then(True)
            .otherwise(unknown)
        )
    word = value.cast(pl.String).str.strip_chars().str.to_lowercase()
    return (
        pl.when(word.is_null() | word.is_in(UNSET))
        .then(False)
        .when(word.is_in(SET))
        .then(True)
        .otherwise(unknown)
    )


def with_contact_flags(contacts: pl.DataFrame) -> pl.DataFrame:
    """`contacts` with `primary` and `opted_out` (where mapped) as Boolean columns, once as
    they are read, so every later step reads real booleans."""
    return contacts.with_columns(
        flag_expr(contacts.schema, flag, unknown=unknown).alias(flag)
        for flag, unknown in CONTACT_FLAGS.items()
        if flag in contacts.columns
    )


def _numeric_flag(value: float, unknown: bool) -> bool:
    if value in (0, 1):
        return value == 1
    return unknown
