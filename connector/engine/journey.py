"""Journey stages with a history: forward by the stage rules, back only by a regression rule
that has held for its `for_days`, and a dwell clock that runs from the stage's entry.

Recomputing the stage from the latest week alone let one weak week send a Value account back
to Onboarding and restart its dwell clock. Here the stage a run starts from is the one kept in
the store (or, when the store has none, the stage and date already on the account in the
CRM, so a lost store loses no dwell time).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

import polars as pl

from connector.config.playbook import Journey
from connector.engine.expressions import compile_sql
from connector.engine.kept import (
    CHANGED,
    KEPT,
    NEW_PENDING,
    NEW_PENDING_SINCE,
    PENDING,
    PENDING_SINCE,
    start_from,
    with_kept,
)

JOURNEY_COLUMNS = ["journey_stage", "journey_stage_since", "days_in_stage"]
TRACK = "journey_stage"
_PRIOR_NAME, _PRIOR_SINCE, _PRIOR = "_prior_stage", "_prior_since", "_prior_index"
_FORWARD_TO, _TARGET, _DAYS = "_forward_to", "_back_to", "_back_for_days"


def assign_stage(
    table: pl.DataFrame,
    journey: Journey,
    columns: Collection[str],
    *,
    as_of: date,
    current: Mapping[str, str],
    kept: pl.DataFrame,
) -> pl.DataFrame:
    """The stage, since when, for how many days; and (private columns, see `engine.kept`)
    whether the stage changed and which move back is waiting out its `for_days`.

    From the stage kept in the store (else the CRM's: `current` maps journey_stage /
    journey_stage_since to the columns holding its values), an account moves forward to
    the furthest stage whose earlier stages are all done — but never into a stage a
    regression rule would take it out of right now — and back only when a regression rule
    from its stage has held on every run for at least `for_days` days.
    """
    names = [stage.name for stage in journey.stages]
    prior_name, prior_since = start_from(
        current.get("journey_stage"), current.get("journey_stage_since"), as_of
    )
    table = with_kept(table, kept, TRACK).with_columns(
        prior_name.alias(_PRIOR_NAME), prior_since.alias(_PRIOR_SINCE)
    )
    target, days = _regression(journey, columns, pl.col(_PRIOR_NAME))
    table = table.with_columns(  # each read by several columns below: computed once
        pl.col(_PRIOR_NAME)
        .replace_strict(_index(names), default=None, return_dtype=pl.Int32)
        .alias(_PRIOR),
        _forward_to(journey, columns).alias(_FORWARD_TO),
        target.alias(_TARGET),
        days.alias(_DAYS),
    )
    prior, forward_to, target = pl.col(_PRIOR), pl.col(_FORWARD_TO), pl.col(_TARGET)
    forward = prior.is_null() | (forward_to > prior)
    waiting_since = (
        pl.when(pl.col(PENDING).eq_missing(_name(target, names)))
        .then(pl.col(PENDING_SINCE))
        .otherwise(pl.lit(as_of, pl.Date))
    )
    back = ~forward & target.is_not_null()
    due = back & ((pl.lit(as_of, pl.Date) - waiting_since).dt.total_days() >= pl.col(_DAYS))
    moved = forward | due
    stage = pl.when(forward).then(forward_to).when(due).then(target).otherwise(prior)
    since = pl.when(moved).then(pl.lit(as_of, pl.Date)).otherwise(pl.col(_PRIOR_SINCE))
    return (
        table.with_columns(
            _name(stage, names).alias("journey_stage"),
            since.alias("journey_stage_since"),
            (moved | pl.col(KEPT).is_null()).alias(CHANGED),
            pl.when(back & ~due).then(_name(target, names)).alias(NEW_PENDING),
            pl.when(back & ~due).then(waiting_since).alias(NEW_PENDING_SINCE),
        )
        .with_columns(
            days_in_stage=(pl.lit(as_of, pl.Date) - pl.col("journey_stage_since")).dt.total_days()
        )
        .drop(_PRIOR_NAME, _PRIOR_SINCE, _PRIOR, _FORWARD_TO, _TARGET, _DAYS)
    )


def _forward_to(journey: Journey, columns: Collection[str]) -> pl.Expr:
    """The furthest stage reached by the stage rules (the first not yet done) that no
    regression rule out of it holds for right now; the first stage always qualifies."""
    reached: pl.Expr = pl.lit(len(journey.stages) - 1, pl.Int32)
    for i in reversed(range(len(journey.stages) - 1)):
        done = compile_sql(journey.stages[i].done_when or "false", columns).fill_null(False)
        reached = pl.when(~done).then(pl.lit(i, pl.Int32)).otherwise(reached)
    furthest: pl.Expr = pl.lit(0, pl.Int32)
    for i in range(1, len(journey.stages)):
        name = journey.stages[i].name
        leaving = [
            compile_sql(r.when, columns).fill_null(False)
            for r in journey.regressions
            if name in r.from_
        ]
        open_ = ~pl.any_horizontal(leaving) if leaving else pl.lit(True)
        furthest = pl.when((reached >= i) & open_).then(pl.lit(i, pl.Int32)).otherwise(furthest)
    return furthest


def _regression(
    journey: Journey, columns: Collection[str], prior: pl.Expr
) -> tuple[pl.Expr, pl.Expr]:
    """The stage the first regression rule holding for the account's stage leads back to,
    and its `for_days` (null, null: none holds)."""
    target: pl.Expr = pl.lit(None, pl.Int32)
    days: pl.Expr = pl.lit(None, pl.Int64)
    for rule in reversed(journey.regressions):
        holds = prior.is_in(rule.from_) & compile_sql(rule.when, columns).fill_null(False)
        target = pl.when(holds).then(pl.lit(journey.index(rule.to), pl.Int32)).otherwise(target)
        days = pl.when(holds).then(pl.lit(rule.for_days, pl.Int64)).otherwise(days)
    return target, days


def _index(names: list[str]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def _name(index: pl.Expr, names: list[str]) -> pl.Expr:
    return index.replace_strict(dict(enumerate(names)), default=None, return_dtype=pl.String)
