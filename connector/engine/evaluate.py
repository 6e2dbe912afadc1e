"""Tiers, health, journey and rule firings for the whole account table, in that order, so
each step can use what the previous ones computed (segments by tier, stages by score…)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from connector.config.load import Config
from connector.engine.columns import evaluated_columns
from connector.engine.health import HISTORY_SCHEMA, score_health
from connector.engine.journey import assign_stage
from connector.engine.rules import compile_rules, fire_rules
from connector.engine.tiers import assign_tier
from connector.frame import CURRENT_PREFIX


@dataclass(frozen=True)
class Evaluation:
    table: pl.DataFrame  # the frame plus tier, health and journey columns
    firings: pl.DataFrame  # rule_id, account_id, period


def evaluate(
    table: pl.DataFrame, config: Config, *, as_of: date, history: pl.DataFrame | None = None
) -> Evaluation:
    """`history`: earlier daily snapshots (account_id, snapshot_date, health_score)."""
    columns = list(table.columns)
    if config.touch_tiers is not None:
        table = assign_tier(table, config.touch_tiers, columns)
    table = score_health(
        table,
        config.health,
        list(table.columns),
        history=history if history is not None else pl.DataFrame(schema=HISTORY_SCHEMA),
        as_of=as_of,
    )
    if config.journey is not None:
        table = assign_stage(
            table,
            config.journey,
            list(table.columns),
            as_of=as_of,
            current=current_result_columns(config.mapping.results),
        )
    rules = compile_rules(config.rules, evaluated_columns(config))
    return Evaluation(table, fire_rules(table, rules))


def current_result_columns(results: Mapping[str, str]) -> dict[str, str]:
    """Result name → the column holding the value the CRM has now."""
    return {name: CURRENT_PREFIX + crm_field for name, crm_field in results.items()}
