"""Diff before write, for the store as for the CRM: of the rows a run would upsert, only
those the store does not already hold as the upsert would leave them. A rerun that learnt
nothing new writes nothing, and a row's `run_id` names the run that last changed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import polars as pl

STORED = "__stored"  # suffix of the stored columns beside the new ones in the join
ROW = "__row"  # the new row's position, to hand back the rows as they came
DIGEST = "__digest"  # a row's compared values hashed (`row_digests`)


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


def row_digests(
    stored: Iterable[pl.DataFrame],
    schema: Mapping[str, Any],
    key: Sequence[str],
    compared: Sequence[str],
) -> pl.DataFrame:
    """Each stored row's `key` and a digest of its `compared` values (NaN as null), from
    chunks typed by `schema`: what a run keeps of the stored rows to diff against later
    (`changed_digests`), read before it needs them — 100,000 snapshots' JSON are ~100 MB,
    their digests ~3."""
    chunks = chain([pl.DataFrame(schema=schema)], stored)  # one chunk read at a time
    return pl.concat([_digested(chunk, key, compared) for chunk in chunks])


def changed_digests(
    new: pl.DataFrame, digests: pl.DataFrame, key: Sequence[str], compared: Sequence[str]
) -> pl.DataFrame:
    """The rows of `new`, in order, whose `key` the `row_digests` lack or whose `compared`
    values differ from the digested ones: `changed_rows` against digests. The new rows'
    types must be the stored frame's, as there (a Float32 hashes unlike its Float64)."""
    left = _digested(new, key, compared).with_row_index(ROW)
    same = left.join(digests, on=[*key, DIGEST], how="semi")[ROW]
    return new[left[ROW].filter(~left[ROW].is_in(same.implode()))]


def _digested(frame: pl.DataFrame, key: Sequence[str], compared: Sequence[str]) -> pl.DataFrame:
    values = _nan_as_null(frame.select(*compared))
    return frame.select(*key).with_columns(values.select(pl.struct(compared).hash().alias(DIGEST)))


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
