"""Touch tiers: high, low or tech touch by ARR (or any value), so playbooks can route by tier.

With hysteresis: an account keeps the tier kept in the store (or, when the store has none,
the one on the account in the CRM) until its value is beyond that tier's band by `margin`,
on every run for `for_days` days. A closed renewal, a discount or a rounding therefore does
not flip a High Touch account to automated emails for a day.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from itertools import pairwise

import polars as pl

from connector.config.playbook import Tier, TouchTiers
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

TRACK = "touch_tier"
TIER_COLUMNS = ["touch_tier", "touch_tier_since"]
_VALUE, _PRIOR, _PRIOR_SINCE, _BANDED = "_tier_value", "_prior_tier", "_prior_since", "_banded"
_MOVES, _WAITS, _WAITING_SINCE = "_tier_moves", "_tier_waits", "_waiting_since"


def assign_tier(
    table: pl.DataFrame,
    tiers: TouchTiers,
    columns: Collection[str],
    *,
    as_of: date,
    current: Mapping[str, str],
    kept: pl.DataFrame,
) -> pl.DataFrame:
    """The tier and since when; and (private columns, see `engine.kept`) whether it changed
    and which change is waiting out `for_days`. No value means the lowest tier's band.
    `current` maps touch_tier to the column holding the CRM's value."""
    ordered = sorted(tiers.tiers, key=lambda tier: tier.min)
    prior_name, prior_since = start_from(current.get("touch_tier"), None, as_of)
    table = with_kept(table, kept, TRACK).with_columns(  # each read several times below
        compile_sql(tiers.value, columns).cast(pl.Float64).fill_null(0.0).alias(_VALUE),
        prior_name.alias(_PRIOR),
        prior_since.alias(_PRIOR_SINCE),
    )
    value, prior = pl.col(_VALUE), pl.col(_PRIOR)
    table = table.with_columns(_band(value, ordered).alias(_BANDED))
    banded = pl.col(_BANDED)
    lower = prior.replace_strict(
        {t.name: t.min for t in ordered}, default=None, return_dtype=pl.Float64
    )
    upper = prior.replace_strict(
        {t.name: nxt.min for t, nxt in pairwise(ordered)},
        default=float("inf"),
        return_dtype=pl.Float64,
    )
    beyond = (value < lower * (1 - tiers.margin)) | (value >= upper * (1 + tiers.margin))
    fresh = lower.is_null()  # no tier yet, or one that is no longer configured
    waiting_since = (
        pl.when(pl.col(PENDING).eq_missing(banded))
        .then(pl.col(PENDING_SINCE))
        .otherwise(pl.lit(as_of, pl.Date))
    )
    waited = (pl.lit(as_of, pl.Date) - waiting_since).dt.total_days() >= tiers.for_days
    table = table.with_columns(
        (fresh | (beyond & waited)).alias(_MOVES),
        (~fresh & beyond & ~waited).alias(_WAITS),
        waiting_since.alias(_WAITING_SINCE),
    )
    moves, waits = pl.col(_MOVES), pl.col(_WAITS)
    return table.with_columns(
        pl.when(moves).then(banded).otherwise(prior).alias("touch_tier"),
        pl.when(moves)
        .then(pl.lit(as_of, pl.Date))
        .otherwise(pl.col(_PRIOR_SINCE))
        .alias("touch_tier_since"),
        (moves | pl.col(KEPT).is_null()).alias(CHANGED),
        pl.when(waits).then(banded).alias(NEW_PENDING),
        pl.when(waits).then(pl.col(_WAITING_SINCE)).alias(NEW_PENDING_SINCE),
    ).drop(_VALUE, _PRIOR, _PRIOR_SINCE, _BANDED, _MOVES, _WAITS, _WAITING_SINCE)


def _band(value: pl.Expr, ordered: list[Tier]) -> pl.Expr:
    """The highest tier whose `min` the value reaches: the tier without hysteresis."""
    tier: pl.Expr = pl.lit(ordered[0].name)
    for spec in ordered[1:]:
        tier = pl.when(value >= spec.min).then(pl.lit(spec.name)).otherwise(tier)
    return tier
