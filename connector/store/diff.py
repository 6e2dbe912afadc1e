"""Diff before write, for the store as for the CRM: of the rows a run would upsert, only
those the store does not already hold as the upsert would leave them. A rerun that learnt
nothing new writes nothing, and a row's `run_id` names the run that last changed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

STORED = "__stored"  # suffix of the stored columns beside the new ones in the join
ROW = "__row"  # the new row's position, to hand back the rows as they came


def changed_rows(
    new: pl.DataFrame,
    stored: pl.DataFrame | Iterable[pl.DataFrame],
    key: Sequence[str],
    compared: Sequence[str],
    *,
    keep_known: Sequence[str] = (),
) -> pl.DataFrame:
    """The rows of `new`, in order, whose `key` `stored` lacks or whose upsert would change
    a value: a `compared` column that differs, or a non-null `keep_known` one that differs
    (a null one keeps the stored value). Nulls compare equal, and NaN as null (SQLite
    stores NaN as NULL). `stored` holds `key` (once a key) and those columns, whole or in
    chunks (`read_chunks`): a chunk is compared and dropped, so the day's 100,000 stored
    snapshots are never held at once."""
    values = [*compared, *keep_known]
    left = _nan_as_null(new.select(*key, *values)).with_row_index(ROW)
    chunks = [stored] if isinstance(stored, pl.DataFrame) else stored
    same = [_unchanged(left, chunk, key, compared, keep_known) for chunk in chunks]
    kept = pl.concat(same) if same else pl.Series(ROW, [], dtype=left[ROW].dtype)
    changed = left[ROW].filter(~left[ROW].is_in(kept.implode()))
    return new[changed]


def _unchanged(
    left: pl.DataFrame,
    stored: pl.DataFrame,
    key: Sequence[str],
    compared: Sequence[str],
    keep_known: Sequence[str],
) -> pl.Series:
    """The `ROW`s of `left` that `stored` holds as their upsert would leave them."""
    values = [*compared, *keep_known]
    right = _nan_as_null(stored.select(*key, *values)).rename(
        {name: name + STORED for name in values}
    )
    joined = left.join(right, on=list(key), how="inner")
    differs = [
        *(pl.col(name).ne_missing(pl.col(name + STORED)) for name in compared),
        *(
            pl.col(name).is_not_null() & pl.col(name).ne_missing(pl.col(name + STORED))
            for name in keep_known
        ),
    ]
    if not differs:
        return joined[ROW]
    return joined.filter(~pl.any_horizontal(*differs))[ROW]


def _nan_as_null(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float32, pl.Float64).fill_nan(None))
