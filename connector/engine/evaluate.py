"""Tiers, health, journey and rule firings for the whole account table, in that order, so
each step can use what the previous ones computed (segments by tier, stages by score…).

`validate` evaluates every expression on a frame typed like the table, but a run's data can
still break one (a CRM field of another type than the offline check assumed, a CAST that
meets a value it cannot convert). A rule that breaks is left out and reported; tiers,
scores and stages cannot be left out, so their failure stops the run before anything is
written, with a sentence instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from connector.config.load import Config
from connector.engine.columns import RISK_TYPES, evaluated_columns
from connector.engine.expressions import POLARS_ERRORS, reason
from connector.engine.health import HISTORY_SCHEMA, score_health
from connector.engine.journey import TRACK as JOURNEY_TRACK
from connector.engine.journey import assign_stage
from connector.engine.kept import STATE_SCHEMA, no_kept_stages, take_state
from connector.engine.rules import (
    RuleSources,
    Skipped,
    compile_rules,
    fire_working_rules,
)
from connector.engine.tiers import TRACK as TIER_TRACK
from connector.engine.tiers import assign_tier
from connector.errors import EvaluationFailed
from connector.frame import CURRENT_PREFIX
from connector.language import DEFAULT_LANGUAGE, Language


@dataclass(frozen=True)
class Evaluation:
    table: pl.DataFrame  # the frame plus tier, health and journey columns
    firings: pl.DataFrame  # rule_id, account_id, period
    skipped: tuple[Skipped, ...] = ()  # rules left out of this run, and why
    # what a real run records of kept columns (journey stage, tier): `engine.kept`
    state: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=STATE_SCHEMA))
    # the churn-risk model was withheld (not better than the health score): its null risk
    # clears what an earlier run wrote, instead of leaving it as if current
    risk_withheld: bool = False


def evaluate(
    table: pl.DataFrame,
    config: Config,
    *,
    as_of: date,
    history: pl.DataFrame | None = None,
    kept: pl.DataFrame | None = None,
    language: Language = DEFAULT_LANGUAGE,
    risk: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> Evaluation:
    """`history`: earlier daily snapshots (`HISTORY_SCHEMA`); `kept`: each account's stages
    as the store keeps them (`KEPT_STAGE_SCHEMA`), none on a first run; `language`: the CS
    team's, in which the health reason is written; `risk`: the scored table → id and the
    `RISK_TYPES` columns (a trained churn model), None for null risk."""
    kept = kept if kept is not None else no_kept_stages()
    states = []
    columns = list(table.columns)
    current = current_result_columns(config.mapping.results)
    if config.touch_tiers is not None:
        with _section(config, "touch_tiers"):
            table = assign_tier(
                table, config.touch_tiers, columns, as_of=as_of, current=current, kept=kept
            )
        table, state = take_state(table, TIER_TRACK, "touch_tier_since")
        states.append(state)
    with _section(config, "health"):
        table = score_health(
            table,
            config.health,
            list(table.columns),
            history=history if history is not None else pl.DataFrame(schema=HISTORY_SCHEMA),
            as_of=as_of,
            language=language,
        )
    if config.journey is not None:
        with _section(config, "journey"):
            table = assign_stage(
                table,
                config.journey,
                list(table.columns),
                as_of=as_of,
                current=current,
                kept=kept,
            )
        table, state = take_state(table, JOURNEY_TRACK, "journey_stage_since")
        states.append(state)
    table = _with_risk(table, risk)
    rules = compile_rules(config.rules, evaluated_columns(config))
    firings, failures = fire_working_rules(table, rules)
    sources = RuleSources.of(config)
    skipped = tuple(
        Skipped(
            failure.rule.id,
            sources.where(failure.rule.id, (failure.part,)),
            f"the rule was left out of this run: {failure.reason}",
        )
        for failure in failures
    )
    state = pl.concat(states) if states else pl.DataFrame(schema=STATE_SCHEMA)
    return Evaluation(table, firings, skipped, state)


def _with_risk(
    table: pl.DataFrame, risk: Callable[[pl.DataFrame], pl.DataFrame] | None
) -> pl.DataFrame:
    """The churn-risk columns, from the model after health and stage are known (its
    features), before rules read them."""
    if risk is None:
        nulls = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in RISK_TYPES.items()]
        return table.with_columns(nulls)
    return table.join(risk(table).select("id", *RISK_TYPES), on="id", how="left")


def current_result_columns(results: Mapping[str, str]) -> dict[str, str]:
    """Result name → the column holding the value the CRM has now."""
    return {name: CURRENT_PREFIX + crm_field for name, crm_field in results.items()}


@contextmanager
def _section(config: Config, name: str) -> Iterator[None]:
    """polars' refusal inside the block names the file and section whose expressions failed."""
    try:
        yield
    except POLARS_ERRORS as exc:
        doc = config.section_doc(name)
        where = str(doc.path) if doc is not None else "playbooks/"
        raise EvaluationFailed(
            f"the '{name}:' section of {where} cannot be evaluated on this run's data "
            f"(polars: {reason(exc)}). Nothing was written. Check its expressions' columns "
            "against the CRM's field types (TRY_CAST turns a value that does not convert "
            "into NULL)."
        ) from None
