"""Touch tiers: high, low or tech touch by ARR (or any value), so playbooks can route by tier."""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from connector.config.playbook import TouchTiers
from connector.engine.expressions import compile_sql


def assign_tier(table: pl.DataFrame, tiers: TouchTiers, columns: Collection[str]) -> pl.DataFrame:
    """Highest tier whose `min` the value reaches; no value means the lowest tier."""
    value = compile_sql(tiers.value, columns).cast(pl.Float64).fill_null(0.0)
    ordered = sorted(tiers.tiers, key=lambda tier: tier.min)
    tier: pl.Expr = pl.lit(ordered[0].name)
    for spec in ordered[1:]:
        tier = pl.when(value >= spec.min).then(pl.lit(spec.name)).otherwise(tier)
    return table.with_columns(touch_tier=tier)
