"""Scores and rule firings for the whole account table in one vectorised pass."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from connector.config.load import Config
from connector.engine.health import score_health
from connector.engine.rules import compile_rules, fire_rules
from connector.frame import frame_columns


@dataclass(frozen=True)
class Evaluation:
    table: pl.DataFrame  # the frame plus health columns
    firings: pl.DataFrame  # rule_id, account_id, period


def evaluate(table: pl.DataFrame, config: Config) -> Evaluation:
    scored = score_health(table, config.health, list(frame_columns(config.mapping)))
    rules = compile_rules(config.rules, config.columns)
    return Evaluation(scored, fire_rules(scored, rules))
