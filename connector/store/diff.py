"""Diff before write, for the store as for the CRM: of the rows a run would upsert, only
those the store does not already hold as the upsert would leave them. A rerun that learnt
nothing new writes nothing, and a row's `run_id` names the run that last changed it.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

STORED = "__stored"  # suffix of the stored columns beside the new ones in the join
ROW = "__row"  # the new row's position, to hand back the rows as they came
FOUND = "__found"  # set on every stored row: after the join, null where the key is new


def changed_rows(
    new: pl.DataFrame,
    stored: pl.DataFrame,
    key: Sequence[str],
    compared: Sequence[str],
    *,
    keep_known: Sequence[str] = (),
) -> pl.DataFrame:
    """The rows of `new`, in order, whose `key` `stored` lacks or whose upsert would change
    a value: a `compared` column that differs, or a non-null `keep_known` one that differs
    (a null one keeps the stored value). Nulls compare equal, and NaN as null (SQLite
    stores NaN as NULL). `stored` holds `key` and those columns."""
    values = [*compared, *keep_known]
    right = (
        _nan_as_null(stored.select(*key, *values))
        .rename({name: name + STORED for name in values})
        .with_columns(pl.lit(True).alias(FOUND))
    )
    left = _nan_as_null(new.select(*key, *values)).with_row_index(ROW)
    joined = left.join(right, on=list(key), how="left", coalesce=True)
    differs = [
        *(pl.col(name).ne_missing(pl.col(name + STORED)) for name in compared),
        *(
            pl.col(name).is_not_null() & pl.col(name).ne_missing(pl.col(name + STORED))
            for name in keep_known
        ),
    ]
    changed = joined.filter(pl.any_horizontal(pl.col(FOUND).is_null(), *differs))
    return new[changed[ROW].sort()]


def _nan_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float32, pl.Float64).fill_nan(None))
