"""Activity KPIs: are the tasks the worker creates done, how fast, and does the account's
health improve after one is done? Pure polars over the store's task outcomes
(`TASK_OUTCOME_SCHEMA`) and snapshots, with the formulas the README gives.

A KPI without data is null — never 0 — so the report can say "no data yet".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from connector.report.kpis import EVERYONE, UNKNOWN, Period

HEALTH_AFTER_DAYS = 30  # health change this many days after a task was completed
HEALTH_TOLERANCE_DAYS = 7  # how much older than each of the two days a snapshot may be
_SUMS = ["tasks", "completed", "open"]


def task_completion(
    outcomes: pl.DataFrame,
    rule_ids: Sequence[str],
    spans: list[Period],
    as_of: date,
    by_owner: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per rule and period of creation (and owner): tasks created, completed by `as_of`,
    completion rate = completed / created and the median days from creation to completion.

    `by_owner` (owner_id, owner_name; may be empty): break down by the task's owner, named
    where known, else by id. Every rule in `rule_ids` (and any rule with tasks) gets a row
    per period otherwise; a rule without tasks has 0 tasks and a null rate, never 0%."""
    rows = _in_periods(_completed_by(outcomes, as_of), spans)
    if by_owner is None:
        rows = rows.with_columns(group=pl.lit(EVERYONE))
    else:
        rows = rows.join(by_owner, on="owner_id", how="left").with_columns(
            group=pl.coalesce("owner_name", "owner_id", pl.lit(UNKNOWN))
        )
    table = _completion_sums(rows, ["rule_id", "period", "complete"])
    if by_owner is None:
        rules = list(dict.fromkeys([*rule_ids, *sorted(outcomes["rule_id"].unique())]))
        grid = pl.DataFrame(
            [(r, s.label, s.complete, EVERYONE) for r in rules for s in spans],
            schema={
                "rule_id": pl.String,
                "period": pl.String,
                "complete": pl.Boolean,
                "group": pl.String,
            },
            orient="row",
        )
        keys = ["rule_id", "period", "complete", "group"]
        table = grid.join(table, on=keys, how="left").with_columns(pl.col(_SUMS).fill_null(0))
    return table.sort("rule_id", "period", "group")


def tasks_by_rule(
    outcomes: pl.DataFrame, health: pl.DataFrame, rule_ids: Sequence[str], as_of: date
) -> pl.DataFrame:
    """Per rule, every task created up to `as_of`: completion as in `task_completion`, and
    of the completed tasks, how many have a health change (`health_after_tasks`) and its
    average and median (null when none has one)."""
    rows = _completed_by(outcomes, as_of).with_columns(group=pl.lit(EVERYONE))
    sums = _completion_sums(rows, ["rule_id"]).drop("group")
    change = pl.col("health_change")
    after = health.group_by("rule_id").agg(
        measured=change.is_not_null().sum().cast(pl.Int64),
        average_health_change=change.mean(),
        median_health_change=change.median(),
    )
    rules = list(dict.fromkeys([*rule_ids, *sorted(outcomes["rule_id"].unique())]))
    grid = pl.DataFrame({"rule_id": rules}, schema={"rule_id": pl.String})
    return (
        grid.join(sums, on="rule_id", how="left")
        .join(after, on="rule_id", how="left")
        .with_columns(pl.col([*_SUMS, "measured"]).fill_null(0))
    )


def health_after_tasks(
    outcomes: pl.DataFrame,
    snapshots: pl.DataFrame,
    as_of: date,
    days: int = HEALTH_AFTER_DAYS,
    tolerance: int = HEALTH_TOLERANCE_DAYS,
) -> pl.DataFrame:
    """Each task completed by `as_of`: the account's health score on its completion day and
    `days` later — each the latest snapshot on or before that day, at most `tolerance` days
    older — and health_change = after − at completion. Null when either is unknown (no
    snapshot near enough, or the later day is after `as_of`), never 0."""
    done = (
        _completed_by(outcomes, as_of)
        .filter(pl.col("done"))
        .select(
            "key",
            "rule_id",
            "account_id",
            "completed_on",
            later=pl.col("completed_on") + timedelta(days=days),
        )
        .sort("completed_on")
    )
    scores = (
        snapshots.filter(pl.col("health_score").is_not_null(), pl.col("snapshot_date") <= as_of)
        .select("account_id", "snapshot_date", "health_score")
        .sort("snapshot_date")
    )
    at = _score_on(done, scores, "completed_on", tolerance).rename(
        {"health_score": "score_at_completion"}
    )
    after = _score_on(at.sort("later"), scores, "later", tolerance).rename(
        {"health_score": "score_after"}
    )
    return after.select(
        "key",
        "rule_id",
        "account_id",
        "completed_on",
        "score_at_completion",
        "score_after",
        health_change=pl.col("score_after") - pl.col("score_at_completion"),
    ).sort("completed_on", "key")


def owner_names(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Each owner id's name on its latest snapshot (empty when snapshots keep no names):
    a task's owner is a CRM user, named as the account owners are."""
    if not {"owner_id", "owner_name"} <= set(snapshots.columns):
        return pl.DataFrame(schema={"owner_id": pl.String, "owner_name": pl.String})
    return (
        snapshots.filter(pl.col("owner_id").is_not_null(), pl.col("owner_name").is_not_null())
        .sort("snapshot_date")
        .group_by("owner_id")
        .agg(pl.col("owner_name").last().cast(pl.String))
        .select(pl.col("owner_id").cast(pl.String), "owner_name")
    )


def _score_on(tasks: pl.DataFrame, scores: pl.DataFrame, day: str, tolerance: int) -> pl.DataFrame:
    return tasks.join_asof(
        scores,
        left_on=day,
        right_on="snapshot_date",
        by="account_id",
        strategy="backward",
        tolerance=timedelta(days=tolerance),
        check_sortedness=False,
    ).drop("snapshot_date")


def _completed_by(outcomes: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Tasks created by `as_of`, with `done`: completed on or before it (one completed
    later was still open that day)."""
    completed = pl.col("completed_on")
    return outcomes.filter(pl.col("created_on") <= as_of).with_columns(
        done=(pl.col("closed") & completed.is_not_null() & (completed <= as_of)).fill_null(False)
    )


def _in_periods(rows: pl.DataFrame, spans: list[Period]) -> pl.DataFrame:
    """Each row with the period its task was created in; rows outside `spans` are left out."""
    frame = pl.DataFrame(
        [(s.start, s.last_day, s.label, s.complete) for s in spans],
        schema={"start": pl.Date, "last_day": pl.Date, "period": pl.String, "complete": pl.Boolean},
        orient="row",
    ).sort("start")
    return (
        rows.sort("created_on")
        .join_asof(frame, left_on="created_on", right_on="start", strategy="backward")
        .filter(pl.col("period").is_not_null(), pl.col("created_on") <= pl.col("last_day"))
        .drop("start", "last_day")
    )


def _completion_sums(rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    done = pl.col("done")
    days = (pl.col("completed_on") - pl.col("created_on")).dt.total_days()
    sums = rows.group_by(*keys, "group").agg(
        tasks=pl.len().cast(pl.Int64),
        completed=done.sum().cast(pl.Int64),
        open=(~done).sum().cast(pl.Int64),
        median_days_to_close=days.filter(done).median(),
    )
    return sums.select(
        *keys,
        "group",
        *_SUMS,
        completion_rate=pl.when(pl.col("tasks") > 0).then(pl.col("completed") / pl.col("tasks")),
        median_days_to_close="median_days_to_close",
    )
