"""The training set: one row per closed renewal, the account as it looked `lead` days before
the renewal closed, labelled churned (lost) or renewed (won).

Only what the store held before the decision is read, so the model learns what a CSM could
have seen in time; a renewal without a snapshot near that day is left out, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from connector.risk.features import latest_before, numeric_measures, with_trends


@dataclass(frozen=True, slots=True)
class Window:
    """When features are read: `lead` days before the close, the snapshot at most
    `tolerance` days older than that, trends over `trend_days`."""

    lead: int = 90
    tolerance: int = 14
    trend_days: int = 56


@dataclass(frozen=True, slots=True)
class TrainingSet:
    rows: pl.DataFrame  # account_id, close_date, churned, one column per measure and change
    measures: list[str]  # the numeric measures the snapshots hold
    renewals: int  # closed renewals before the run date, with or without a snapshot
    dropped: int  # of them, left out: no snapshot within the tolerance of `lead` days before


RENEWAL = "renewal"  # the closed deals' kind the model learns from (`frame.deals`)


def renewals_before(deals: pl.DataFrame, as_of: date, lead: int) -> pl.DataFrame:
    """Closed renewals whose features day (`lead` days before the close) is before `as_of`:
    account_id, close_date, churned."""
    return deals.filter(
        pl.col("kind") == RENEWAL,
        pl.col("close_date") - timedelta(days=lead) < as_of,
    ).select("account_id", "close_date", churned=~pl.col("won"))


def lookups(renewals: pl.DataFrame, window: Window) -> pl.DataFrame:
    """The snapshots (account_id, day) the training reads: each renewal's features day,
    then the day its trends compare with."""
    lead, trend = timedelta(days=window.lead), timedelta(days=window.lead + window.trend_days)
    close = pl.col("close_date").cast(pl.Date)
    return pl.concat(renewals.select("account_id", day=close - before) for before in (lead, trend))


def training_set(renewals: pl.DataFrame, snapshots: pl.DataFrame, window: Window) -> TrainingSet:
    """Each renewal with the account's measures and their changes on its features day."""
    measures = numeric_measures(snapshots)
    points = renewals.with_columns(point=pl.col("close_date") - timedelta(days=window.lead))
    found = latest_before(points, snapshots, measures, window.tolerance)
    kept = found.filter(pl.col("found")).drop("found")
    rows = with_trends(kept, snapshots, measures, window.trend_days, window.tolerance)
    return TrainingSet(rows.drop("point"), measures, renewals.height, renewals.height - kept.height)
