"""Large frames put in order by taking their rows at their sorted positions.

While it ran, polars' `DataFrame.sort` held about 1.7 times the memory of the frame it
made: 178 MB for the 784,000 usage weeks of 100,000 accounts, 126 MB for 500,000 mirrored
contacts. Taking the rows at the positions `arg_sort_by` gives held 107 and 98 MB, for the
same frame in the same order. Where the rows come in parts that are not needed once
merged (a mirror and what changed), `concat_in_order` takes them a column at a time and
lets each part's column go once taken, so the rows are held once, not twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def in_order(
    frame: pl.DataFrame,
    *by: str | pl.Expr,
    descending: bool | Sequence[bool] = False,
    nulls_last: bool = False,
) -> pl.DataFrame:
    """`frame` sorted by `by`, stably: rows equal on `by` keep their order."""
    positions = frame.select(
        pl.arg_sort_by(*by, descending=descending, nulls_last=nulls_last, maintain_order=True)
    ).to_series()
    return frame[positions]


def concat_in_order(parts: list[pl.DataFrame], *by: str | pl.Expr) -> pl.DataFrame:
    """The `parts` one after another (`vertical_relaxed`), sorted by `by` as `in_order`
    sorts. `parts` is emptied: with no other reference to them, each column of theirs is
    let go of once its rows are taken, and the merge holds one column more than its rows
    instead of their copy beside them (at 784,000 usage weeks, 69 MB)."""
    whole = pl.concat(parts, how="vertical_relaxed")  # the parts' columns, not copied
    parts.clear()
    positions = whole.select(pl.arg_sort_by(*by, maintain_order=True)).to_series()
    taken: list[pl.Series] = []
    for name in whole.columns:
        taken.append(whole[name].gather(positions))
        whole = whole.drop(name)
    return pl.DataFrame(taken)
