"""Signals from each account's weekly usage series, computed for all accounts at once.

For every metric `m`: `m` (the latest week on or before the run date), `m_prev` (the week
before), `m_4w_ago`, `m_sum_4w` (the last four weeks), `m_total` (every week read) and
`m_decline_weeks` (how many weeks in a row it has fallen, up to the latest week).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

SUFFIXES = ("", "_prev", "_4w_ago", "_sum_4w", "_total", "_decline_weeks")


def usage_columns(metrics: Sequence[str]) -> list[str]:
    return ["usage_week", *(m + suffix for m in metrics for suffix in SUFFIXES)]


def usage_signals(usage: pl.DataFrame, metrics: Sequence[str], as_of: date) -> pl.DataFrame:
    """One row per account_key with `usage_columns(metrics)`."""
    key = "account_key"
    recent = (
        usage.filter(pl.col("week_start") <= as_of)
        .sort(key, "week_start", descending=[False, True])
        .with_columns(_rank=pl.int_range(pl.len()).over(key))
        .with_columns([_fell(m).cum_prod().over(key).alias(f"_fell_{m}") for m in metrics])
    )
    rank = pl.col("_rank")
    return recent.group_by(key).agg(
        pl.col("week_start").first().alias("usage_week"),
        *(
            expr
            for m in metrics
            for expr in (
                pl.col(m).first().alias(m),
                pl.col(m).filter(rank == 1).first().alias(f"{m}_prev"),
                pl.col(m).filter(rank == 4).first().alias(f"{m}_4w_ago"),
                pl.col(m).filter(rank < 4).sum().alias(f"{m}_sum_4w"),
                pl.col(m).sum().alias(f"{m}_total"),
                pl.col(f"_fell_{m}").sum().cast(pl.Int64).alias(f"{m}_decline_weeks"),
            )
        ),
    )


def _fell(metric: str) -> pl.Expr:
    """1 where the week is below the week before it (rows are newest first), else 0."""
    older = pl.col(metric).shift(-1).over("account_key")
    return (pl.col(metric) < older).fill_null(False).cast(pl.Int32)
