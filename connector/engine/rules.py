"""Alert rules: every `when` evaluated over the whole table in one vectorised pass."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import polars as pl

from connector.config.playbook import Rule
from connector.engine.expressions import compile_sql


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    when: pl.Expr
    period: pl.Expr


def compile_rules(rules: Sequence[Rule], columns: Collection[str]) -> list[CompiledRule]:
    return [
        CompiledRule(rule, compile_sql(rule.when, columns), compile_sql(rule.period, columns))
        for rule in rules
    ]


def fire_rules(table: pl.DataFrame, rules: Sequence[CompiledRule]) -> pl.DataFrame:
    """One row per (rule, account) whose condition is true; a null condition does not fire.

    Columns: rule_id, account_id, period (text, part of the action key).
    """
    if not rules:
        return pl.DataFrame(
            schema={"rule_id": pl.String, "account_id": pl.String, "period": pl.String}
        )
    flags = table.select(
        pl.col("id"),
        *(r.when.fill_null(False).alias(f"fires_{i}") for i, r in enumerate(rules)),
        *(_as_text(r.period).alias(f"period_{i}") for i, r in enumerate(rules)),
    )
    fired = [
        flags.filter(pl.col(f"fires_{i}")).select(
            pl.lit(r.rule.id).alias("rule_id"),
            pl.col("id").alias("account_id"),
            pl.col(f"period_{i}").fill_null("").alias("period"),
        )
        for i, r in enumerate(rules)
    ]
    return pl.concat(fired)


def _as_text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String)
