"""Columns whose value is kept between runs (the journey stage, the touch tier): what the
store holds for an account, joined onto the table, and the state a run leaves behind.

A run only proposes; a real run records (`HistoryStore.save_stages`), a dry run does not.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.store import KEPT_STAGE_SCHEMA

STATE_SCHEMA = {**KEPT_STAGE_SCHEMA, "changed": pl.Boolean}
KEPT, KEPT_SINCE = "_kept_stage", "_kept_entered_on"
PENDING, PENDING_SINCE = "_kept_pending_stage", "_kept_pending_since"
CHANGED, NEW_PENDING, NEW_PENDING_SINCE = "_changed", "_pending_stage", "_pending_since"


def no_kept_stages() -> pl.DataFrame:
    return pl.DataFrame(schema=KEPT_STAGE_SCHEMA)


def with_kept(table: pl.DataFrame, kept: pl.DataFrame, track: str) -> pl.DataFrame:
    """The table with the store's current stage of `track`, its entry date and any pending
    move, as private columns (null for an account the store does not know)."""
    mine = kept.filter(pl.col("track") == track).select(
        pl.col("account_id").alias("id"),
        pl.col("stage").alias(KEPT),
        pl.col("entered_on").alias(KEPT_SINCE),
        pl.col("pending_stage").alias(PENDING),
        pl.col("pending_since").alias(PENDING_SINCE),
    )
    return table.join(mine, on="id", how="left")


def take_state(table: pl.DataFrame, track: str, since: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off what to keep of `track` (column `track`, entered on `since`): the table
    without the private columns, and one `STATE_SCHEMA` row per account."""
    state = table.select(
        pl.col("id").alias("account_id"),
        pl.lit(track).alias("track"),
        pl.col(track).alias("stage"),
        pl.col(since).alias("entered_on"),
        pl.col(NEW_PENDING).alias("pending_stage"),
        pl.col(NEW_PENDING_SINCE).alias("pending_since"),
        pl.col(CHANGED).alias("changed"),
    ).cast(STATE_SCHEMA)  # type: ignore[arg-type]
    private = [KEPT, KEPT_SINCE, PENDING, PENDING_SINCE, CHANGED, NEW_PENDING, NEW_PENDING_SINCE]
    return table.drop(private), state


def start_from(
    crm_stage: str | None, crm_since: str | None, as_of: date
) -> tuple[pl.Expr, pl.Expr]:
    """The stage a run starts from and since when: the store's; else the one on the account
    in the CRM (`crm_stage`, `crm_since`: the columns holding its values), so a lost store
    restarts no clock; a CRM stage without a date counts from `as_of`."""
    if crm_stage is None:
        return pl.col(KEPT), pl.col(KEPT_SINCE)
    since: pl.Expr = pl.lit(as_of, pl.Date)
    if crm_since is not None:
        since = pl.col(crm_since).cast(pl.Date).fill_null(since)
    kept = pl.col(KEPT).is_not_null()
    return (
        pl.when(kept).then(pl.col(KEPT)).otherwise(pl.col(crm_stage)),
        pl.when(kept).then(pl.col(KEPT_SINCE)).otherwise(since),
    )
