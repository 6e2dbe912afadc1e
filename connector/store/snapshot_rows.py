"""A day's snapshot rows built as columns: the measures and the model's raw inputs encoded
as JSON objects by polars, not one Python dict per account (a tenth of a 100,000-account
run was those dicts). The text is what readers parse: numbers as numbers, NaN as null
(PostgreSQL's JSON refuses NaN), dates and times as ISO text, keys in the given order.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

SNAPSHOT_COLUMNS = {  # a snapshot row as the store's diff compares it; JSON as text
    "account_id": pl.String,
    "health_score": pl.Float64,
    "health_color": pl.String,
    "measures": pl.String,
    "model_version": pl.String,
    "inputs": pl.String,
}


def snapshot_rows(
    table: pl.DataFrame, measures: Sequence[str], inputs: Sequence[str]
) -> pl.DataFrame:
    """`SNAPSHOT_COLUMNS` of each account of the evaluated `table`; the model version and
    inputs only when the table carries a `health_model_version`."""
    versioned = "health_model_version" in table.columns
    return table.select(
        pl.col("id").cast(pl.String).alias("account_id"),
        pl.col("health_score").cast(pl.Float64),
        pl.col("health_color").cast(pl.String),
        json_object(table, measures).alias("measures"),
        (pl.col("health_model_version") if versioned else pl.lit(None))
        .cast(pl.String)
        .alias("model_version"),
        # unversioned: the JSON null a Python None always stored there, not SQL NULL
        (json_object(table, inputs) if versioned else pl.lit("null")).alias("inputs"),
    )


def columns_read(
    columns: Sequence[str], measures: Sequence[str], inputs: Sequence[str]
) -> list[str]:
    """Of an evaluated table's `columns`, those `snapshot_rows` reads: a caller that holds
    the table only to save its snapshots can let go of the others."""
    versioned = "health_model_version" in columns
    model = ["health_model_version", *inputs] if versioned else []
    return list(dict.fromkeys(["id", "health_score", "health_color", *measures, *model]))


def json_object(table: pl.DataFrame, names: Sequence[str]) -> pl.Expr:
    """One JSON object per row of the `names` columns, in that order."""
    if not names:
        return pl.lit("{}", pl.String)
    fields = (_json_ready(table, name) for name in dict.fromkeys(names))
    return pl.struct(*fields).struct.json_encode()


def _json_ready(table: pl.DataFrame, name: str) -> pl.Expr:
    """The column as JSON holds it: NaN as null; dates and times as Python's ISO text."""
    column, dtype = pl.col(name), table.schema[name]
    if dtype.is_float():
        return column.fill_nan(None)
    if dtype == pl.Date:
        return column.dt.to_string("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return _isoformat(column, zoned=dtype.time_zone is not None)
    return column


def _isoformat(column: pl.Expr, *, zoned: bool) -> pl.Expr:
    """A moment as `datetime.isoformat` writes it: microseconds only when some, the offset
    only when the moment has a zone."""
    micros = column.dt.microsecond()
    fraction = (
        pl.when(micros != 0)
        .then(pl.lit(".") + micros.cast(pl.String).str.zfill(6))
        .otherwise(pl.lit(""))
    )
    offset = column.dt.to_string("%:z") if zoned else pl.lit("")
    return pl.concat_str(column.dt.to_string("%Y-%m-%dT%H:%M:%S"), fraction, offset)
