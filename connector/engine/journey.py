"""Journey stages: the first stage an account has not yet completed, and since when it is in it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

import polars as pl

from connector.config.playbook import Journey
from connector.engine.expressions import compile_sql

JOURNEY_COLUMNS = ["journey_stage", "journey_stage_since", "days_in_stage"]


def assign_stage(
    table: pl.DataFrame,
    journey: Journey,
    columns: Collection[str],
    *,
    as_of: date,
    current: Mapping[str, str],
) -> pl.DataFrame:
    """The first stage not yet done, since when the account is in it, and for how many days.

    The CRM is the ledger of stage history: when the stage read back from the CRM is the
    same, its `since` date is kept; on a change (or first scoring) it is `as_of`.
    `current` maps journey_stage / journey_stage_since to the columns holding the CRM's values.
    """
    stage: pl.Expr = pl.lit(journey.stages[-1].name)
    for spec in reversed(journey.stages[:-1]):
        done = compile_sql(spec.done_when or "false", columns).fill_null(False)
        stage = pl.when(~done).then(pl.lit(spec.name)).otherwise(stage)
    table = table.with_columns(journey_stage=stage)
    since: pl.Expr = pl.lit(as_of, pl.Date)
    if "journey_stage" in current and "journey_stage_since" in current:
        unchanged = pl.col("journey_stage").eq_missing(pl.col(current["journey_stage"]))
        since = (
            pl.when(unchanged & pl.col(current["journey_stage_since"]).is_not_null())
            .then(pl.col(current["journey_stage_since"]).cast(pl.Date))
            .otherwise(since)
        )
    return table.with_columns(journey_stage_since=since).with_columns(
        days_in_stage=(pl.lit(as_of, pl.Date) - pl.col("journey_stage_since")).dt.total_days()
    )
