"""Features of an account on a day: the numeric measures its snapshot holds, and how each
moved against the snapshot about `trend_days` earlier.

Discovered from the data, never listed: a metric RevOps adds to the mapping is kept in the
snapshots and becomes a feature on the next training.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

TREND_SUFFIX = ":change"  # `logins:change`: the relative change of `logins` over the trend
NOT_FEATURES = frozenset({"account_id", "snapshot_date", "model_version", "inputs"})
CHANGE_CAP = 10.0  # a change from almost nothing is capped, not infinite


def numeric_measures(snapshots: pl.DataFrame) -> list[str]:
    """The snapshot columns that hold numbers (health score, metrics, sub-scores, recency),
    in a stable order."""
    return sorted(
        name
        for name, dtype in snapshots.schema.items()
        if name not in NOT_FEATURES and dtype.is_numeric()
    )


def feature_names(measures: Sequence[str]) -> list[str]:
    """Each measure's level, then each measure's change."""
    return [*measures, *(name + TREND_SUFFIX for name in measures)]


def latest_before(
    points: pl.DataFrame, snapshots: pl.DataFrame, measures: Sequence[str], tolerance: int
) -> pl.DataFrame:
    """`points` (account_id, point, …) in their order, with the measures of the account's
    latest snapshot on or before `point` and at most `tolerance` days before it, and
    `found`: whether there was one (the measures are null where not)."""
    right = snapshots.select(
        "account_id",
        pl.col("snapshot_date").alias("_day"),
        *(
            (pl.col(name) if name in snapshots.columns else pl.lit(None))
            .cast(pl.Float64)
            .alias(name)
            for name in measures
        ),
        found=pl.lit(value=True),
    ).sort("_day")
    return (
        points.with_row_index("_row")
        .with_columns(_day=pl.col("point"))
        .sort("_day")
        .join_asof(
            right,
            on="_day",
            by="account_id",
            strategy="backward",
            tolerance=timedelta(days=tolerance),
            check_sortedness=False,
        )
        .sort("_row")
        .drop("_row", "_day")
        .with_columns(pl.col("found").fill_null(value=False))
    )


def with_trends(
    now: pl.DataFrame,
    snapshots: pl.DataFrame,
    measures: Sequence[str],
    trend_days: int,
    tolerance: int,
) -> pl.DataFrame:
    """`now` (account_id, point, measures) with each measure's relative change since the
    latest snapshot `trend_days` before the point: -0.4 is "down 40%"; null without a
    baseline or from a baseline of zero."""
    earlier = now.select(
        "account_id", (pl.col("point") - timedelta(days=trend_days)).alias("point")
    )
    then = latest_before(earlier, snapshots, measures, tolerance)
    changes = [
        pl.when(then[name].abs() > 0)
        .then((pl.col(name).cast(pl.Float64) - then[name]) / then[name].abs())
        .otherwise(None)
        .clip(-CHANGE_CAP, CHANGE_CAP)
        .alias(name + TREND_SUFFIX)
        for name in measures
    ]
    return now.with_columns(changes)
