"""The health model (DEAR or any grouping): measures → group scores → one weighted score.

Every step is a polars expression over the whole table. Missing data is never a silent 0:
a measure without data is either re-weighted away or scored with an explicit default, and a
group without data drops out of the overall weighting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce
from operator import add

import polars as pl

from connector.config.playbook import HealthModel, Measure
from connector.engine.expressions import compile_sql
from connector.language import DEFAULT_LANGUAGE, Language, text_in

SCORE_PREFIX = "score_"
GROUP_PREFIX = "health_"
HISTORY_SCHEMA = {"account_id": pl.String, "snapshot_date": pl.Date, "health_score": pl.Float64}


@dataclass(frozen=True)
class _ReasonWords:
    """How a reason is written: "Deployment 29: Active seats 2/5; ROI 50: Interviews 6", or
    for a Japanese team "導入 29（アクティブ席 2/5）、ROI 50（面接数 6）"."""

    before_measure: str
    after_measure: str
    between_groups: str
    no_data: str


REASON_WORDS: dict[Language, _ReasonWords] = {
    "en": _ReasonWords(": ", "", "; ", "no data"),
    "ja": _ReasonWords("（", "）", "、", "データなし"),
}


def health_columns(model: HealthModel) -> list[str]:
    """Columns the health model adds to the table, in a stable order."""
    return [
        "health_score",
        "health_color",
        "health_reason",
        "health_model_version",
        "health_baseline",
        "health_trend",
        *(GROUP_PREFIX + group for group in model.groups),
        *(SCORE_PREFIX + m.id for m in model.measures),
    ]


def model_version(model: HealthModel) -> str:
    """A short hash of the model: scores computed by different models are never compared."""
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:12]


def score_health(
    table: pl.DataFrame,
    model: HealthModel,
    columns: Collection[str],
    *,
    history: pl.DataFrame,
    as_of: date,
    language: Language = DEFAULT_LANGUAGE,
) -> pl.DataFrame:
    """Add measure, group and overall scores, colour, reason (in the team's `language`),
    model version and trend."""
    table = table.with_columns(
        [_measure_score(m, columns).alias(SCORE_PREFIX + m.id) for m in model.measures]
    )
    table = table.with_columns(
        [_group_score(model, g).alias(GROUP_PREFIX + g) for g in model.groups]
    )
    table = table.with_columns(health_score=_overall(model, columns).round(1))
    table = _with_reason(table, model, columns, REASON_WORDS[language], language).with_columns(
        health_color=_color(pl.col("health_score"), model),
        health_model_version=pl.lit(model_version(model)),
    )
    return _with_trend(table, history, as_of - timedelta(days=model.trend_days))


def _measure_score(measure: Measure, columns: Collection[str]) -> pl.Expr:
    raw = _raw(measure, columns)
    if measure.scale is not None:
        worst, best = measure.scale.worst, measure.scale.best
        scored = ((raw - worst) / (best - worst)).clip(0.0, 1.0) * 100.0
    else:
        assert measure.bands is not None  # the model guarantees one of scale / bands
        scored = pl.lit(0.0)
        for band in sorted(measure.bands, key=lambda b: b.min):
            scored = pl.when(raw >= band.min).then(pl.lit(band.score)).otherwise(scored)
        scored = pl.when(raw.is_null()).then(None).otherwise(scored)
    if measure.if_missing == "reweight":
        return scored
    return scored.fill_null(float(measure.if_missing))


def _raw(measure: Measure, columns: Collection[str]) -> pl.Expr:
    """The measure's value, with NaN (0/0) treated as missing."""
    raw = compile_sql(measure.expr, columns).cast(pl.Float64)
    return pl.when(raw.is_nan()).then(None).otherwise(raw)


def _weighted_mean(scores: Sequence[pl.Expr], weights: Sequence[pl.Expr | float]) -> pl.Expr:
    """Σ w·s / Σ w over the scores that are present; null when none is."""
    present = [
        pl.when(s.is_not_null()).then(w).otherwise(0.0)
        for s, w in zip(scores, weights, strict=True)
    ]
    total = reduce(add, present)
    weighted = pl.sum_horizontal([s * w for s, w in zip(scores, weights, strict=True)])
    return pl.when(total > 0).then(weighted / total).otherwise(None)


def _group_score(model: HealthModel, group: str) -> pl.Expr:
    measures = [m for m in model.measures if m.group == group]
    return _weighted_mean(
        [pl.col(SCORE_PREFIX + m.id) for m in measures], [m.weight for m in measures]
    ).round(1)


def _overall(model: HealthModel, columns: Collection[str]) -> pl.Expr:
    """Group scores weighted by the account's segment (or the default group weights)."""
    weights = []
    for group, spec in model.groups.items():
        weight: pl.Expr = pl.lit(spec.weight)
        for segment in reversed(model.segments):
            weight = (
                pl.when(compile_sql(segment.when, columns).fill_null(False))
                .then(pl.lit(segment.weights.get(group, 0.0)))
                .otherwise(weight)
            )
        weights.append(weight)
    return _weighted_mean([pl.col(GROUP_PREFIX + g) for g in model.groups], weights)


def _color(score: pl.Expr, model: HealthModel) -> pl.Expr:
    """Highest band whose `min` the score reaches; a null score has no colour."""
    expr: pl.Expr = pl.lit(None, pl.String)
    for band in sorted(model.colors, key=lambda band: band.min):
        expr = pl.when(score >= band.min).then(pl.lit(band.color)).otherwise(expr)
    return expr


def _with_reason(
    table: pl.DataFrame,
    model: HealthModel,
    columns: Collection[str],
    words: _ReasonWords,
    language: Language,
) -> pl.DataFrame:
    """The weakest groups, each with its weakest measure: "Deployment 32: Active seats 4/40".

    Group texts are materialised once, then ranked with pairwise comparisons (a handful of
    groups) rather than per-row list sorting, which costs ten times more.
    """
    groups = list(model.groups)
    texts = {g: f"_reason_{g}" for g in groups}
    table = table.with_columns(
        [_group_text(model, g, columns, words, language).alias(texts[g]) for g in groups]
    )
    scores = {g: pl.col(GROUP_PREFIX + g).fill_null(float("inf")) for g in groups}
    ranks = {
        g: pl.sum_horizontal(
            [
                (scores[h] < scores[g]) | ((scores[h] == scores[g]) & pl.lit(j < i))
                for j, h in enumerate(groups)
                if h != g
            ]
            or [pl.lit(0)]
        )
        for i, g in enumerate(groups)
    }
    parts = []
    for position in range(min(model.reason_groups, len(groups))):
        part: pl.Expr = pl.lit(None, pl.String)
        for g in groups:
            part = pl.when(ranks[g] == position).then(pl.col(texts[g])).otherwise(part)
        parts.append(part)
    reason = pl.concat_str(parts, separator=words.between_groups, ignore_nulls=True)
    reason = reason.str.slice(0, 255)
    return table.with_columns(health_reason=reason).drop(texts.values())


def _group_text(
    model: HealthModel,
    group: str,
    columns: Collection[str],
    words: _ReasonWords,
    language: Language,
) -> pl.Expr:
    """ "Deployment 32: Active seats 4/40" (the group's weakest measure), or null without data.

    The weakest measure is chosen on numbers first, so only its value is formatted.
    """
    measures = [m for m in model.measures if m.group == group]
    scores = [pl.col(SCORE_PREFIX + m.id) for m in measures]
    weakest = pl.min_horizontal(scores)

    def pick(values: list[pl.Expr], otherwise: pl.Expr) -> pl.Expr:
        chosen = otherwise
        for score, value in reversed(list(zip(scores, values, strict=True))):
            chosen = pl.when(score == weakest).then(value).otherwise(chosen)
        return chosen

    label = pick([pl.lit(text_in(m.label, language)) for m in measures], pl.lit(None, pl.String))
    value = pick([_raw(m, columns) for m in measures], pl.lit(None, pl.Float64))
    shown = (
        pl.when(value == value.round(0))
        .then(value.cast(pl.Int64).cast(pl.String))
        .otherwise(value.round(2).cast(pl.String))
    )  # 4, not 4.0; 1.88 stays
    if any(m.display for m in measures):
        displays = [
            compile_sql(m.display, columns).cast(pl.String)
            if m.display
            else pl.lit(None, pl.String)
            for m in measures
        ]
        shown = pl.coalesce(pick(displays, pl.lit(None, pl.String)), shown)
    group_score = pl.col(GROUP_PREFIX + group).round(0).cast(pl.Int64).cast(pl.String)
    return pl.concat_str(
        [
            pl.lit(f"{text_in(model.groups[group].label, language)} "),
            group_score,
            pl.lit(words.before_measure),
            label,
            pl.lit(" "),
            shown.fill_null(words.no_data),
            pl.lit(words.after_measure),
        ]
    )


def _with_trend(table: pl.DataFrame, history: pl.DataFrame, baseline_day: date) -> pl.DataFrame:
    """Score change since the last snapshot on or before `baseline_day`."""
    baseline = (
        history.filter(pl.col("snapshot_date") <= baseline_day)
        .sort("snapshot_date")
        .group_by("account_id")
        .agg(pl.col("health_score").last().alias("health_baseline"))
    )
    return table.join(baseline, left_on="id", right_on="account_id", how="left").with_columns(
        health_trend=(pl.col("health_score") - pl.col("health_baseline")).round(1)
    )
