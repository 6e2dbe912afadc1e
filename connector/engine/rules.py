"""Alert rules: every `when` evaluated over the whole table in one vectorised pass.

A rule whose expression validate accepted can still fail on a run's real data (a CRM field
that holds numbers where the offline check assumed text, a TRY-less CAST meeting a value it
cannot convert). Such a rule is left out of the run and reported with its `file:line`; the
other rules still fire.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import polars as pl

from connector.config.load import Config
from connector.config.playbook import Rule
from connector.config.yaml_lines import Loc, YamlDocument
from connector.engine.expressions import (
    POLARS_ERRORS,
    compile_sql,
    describe_type,
    explain,
    quote,
)


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    when: pl.Expr
    period: pl.Expr


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule, or one action of a rule for one account, left out of this run because an
    expression or a template failed on the run's data; the rest of the run went on."""

    rule_id: str
    where: str  # file:line of the expression or template
    reason: str  # a sentence: what failed and what to do
    account_name: str | None = None  # None: the whole rule (or action), for every account


@dataclass(frozen=True)
class RuleFailure:
    """A rule whose `when` or `period` polars could not evaluate on this run's table."""

    rule: Rule
    part: str  # "when" or "period"
    reason: str


@dataclass(frozen=True)
class RuleSources:
    """Where each rule is in `playbooks/`, so a failure during a run names its line."""

    rules: dict[str, tuple[YamlDocument, int]]  # rule id → its file, its index in `rules:`

    @classmethod
    def of(cls, config: Config) -> RuleSources:
        return cls(
            {
                rule.id: (file.doc, index)
                for file in config.playbooks
                for index, rule in enumerate(file.playbook.rules)
            }
        )

    def where(self, rule_id: str, loc: Loc, line: int | None = None) -> str:
        """`file:line` of `loc` under the rule (`("actions", 0, "when")`); `line`: the line
        within a template."""
        if rule_id not in self.rules:
            return f"rule '{rule_id}'"
        doc, index = self.rules[rule_id]
        found = doc.line_within(("rules", index, *loc), line)
        return f"{doc.path}:{found}" if found else str(doc.path)


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
        *(_fires(r).alias(f"fires_{i}") for i, r in enumerate(rules)),
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


def fire_working_rules(
    table: pl.DataFrame, rules: Sequence[CompiledRule]
) -> tuple[pl.DataFrame, list[RuleFailure]]:
    """`fire_rules`, leaving out (and reporting) each rule that polars cannot evaluate on
    this table. All rules go in one pass; only if that pass fails is each rule tried alone,
    still over the whole table at once."""
    try:
        return fire_rules(table, rules), []
    except POLARS_ERRORS:
        pass
    failures = [failure for rule in rules if (failure := _failure(table, rule)) is not None]
    failed = {failure.rule.id for failure in failures}
    working = [rule for rule in rules if rule.rule.id not in failed]
    return fire_rules(table, working), failures


def _failure(table: pl.DataFrame, compiled: CompiledRule) -> RuleFailure | None:
    rule = compiled.rule
    for part, sql, expr in (
        ("when", rule.when, _fires(compiled)),
        ("period", rule.period, _as_text(compiled.period)),
    ):
        try:
            dtype = table.select(expr).dtypes[0]
        except POLARS_ERRORS as exc:
            return RuleFailure(rule, part, explain(sql, exc, table.schema))
        if part == "when" and dtype != pl.Boolean:
            return RuleFailure(
                rule,
                part,
                f"{quote(sql)} is {describe_type(dtype)} on this run's data, but a rule's when "
                "must be true or false.",
            )
    return None


def _fires(rule: CompiledRule) -> pl.Expr:
    return rule.when.fill_null(False)


def _as_text(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String)
