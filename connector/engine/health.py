"""The health model (DEAR or any grouping): measures → group scores → one weighted score.

Every step is a polars expression over the whole table. Missing data is never a silent 0:
a measure without data is either re-weighted away or scored with an explicit default, and a
group without data drops out of the overall weighting.

The trend compares like with like: the baseline is the day's snapshot nearest to the trend
window, and a snapshot scored by another model version is re-scored from the raw values it
kept, with the current model. A model edit alone therefore moves no trend; a snapshot that
cannot be re-scored gives no trend at all ("model changed"), never a misleading one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce
from operator import add

import polars as pl

from connector.config.playbook import HealthModel, Measure
from connector.engine.expressions import POLARS_ERRORS, compile_sql
from connector.language import DEFAULT_LANGUAGE, Language, text_in

SCORE_PREFIX = "score_"
GROUP_PREFIX = "health_"
_REASON = "_reason_joined"  # private: the reason before its empty case and cut
HISTORY_SCHEMA = {
    "account_id": pl.String,
    "snapshot_date": pl.Date,
    "health_score": pl.Float64,
    "model_version": pl.String,  # null: written before snapshots kept their model
    "inputs": pl.String,  # JSON: the raw values of `model_inputs` that day
}
# What does not change a score or a colour, so editing it keeps the model version.
PRESENTATION: dict[str, object] = {
    "trend_days": True,
    "trend_tolerance_days": True,
    "reason_groups": True,
    "groups": {"__all__": {"label"}},
    "measures": {"__all__": {"label", "display"}},
    "segments": {"__all__": {"name"}},
}
TREND_OK, TREND_NO_BASELINE, TREND_MODEL_CHANGED = "ok", "no baseline", "model changed"


@dataclass(frozen=True)
class _ReasonWords:
    """How a reason is written: "Deployment 29: Active seats 2/5; ROI 50: Interviews 6", or
    for a Japanese team "導入 29（アクティブ席 2/5）、ROI 50（面接数 6）"."""

    before_measure: str
    after_measure: str
    between_groups: str
    no_data: str
    nothing_scored: str  # the whole reason when no group has data: never an empty text


REASON_WORDS: dict[Language, _ReasonWords] = {
    "en": _ReasonWords(
        ": ", "", "; ", "no data", "No usage data this week: health could not be scored."
    ),
    "ja": _ReasonWords(
        "（", "）", "、", "データなし", "今週の利用データがないため、ヘルススコアを算出できません。"
    ),
}


DEFAULT_SEGMENT = "default"


def health_columns(model: HealthModel) -> list[str]:
    """Columns the health model adds to the table, in a stable order."""
    return [
        "health_score",
        "health_color",
        "health_reason",
        "health_model_version",
        "health_segment",
        "health_baseline",
        "health_trend",
        "health_trend_baseline_date",
        "health_trend_status",
        *(GROUP_PREFIX + group for group in model.groups),
        *(SCORE_PREFIX + m.id for m in model.measures),
    ]


def model_version(model: HealthModel) -> str:
    """A short hash of what turns raw values into scores and colours (measures, groups,
    segments, weights, scales, bands, colour bands), not of labels or the trend window:
    snapshots scored by different versions are never compared as they are."""
    scoring = model.model_dump(mode="json", exclude=PRESENTATION)  # type: ignore[arg-type]
    return hashlib.sha256(json.dumps(scoring, sort_keys=True).encode()).hexdigest()[:12]


def model_inputs(model: HealthModel, columns: Collection[str]) -> list[str]:
    """The columns the model's scores read (measure expressions, segment conditions): what a
    snapshot keeps raw so that a later model can re-score it."""
    expressions = [m.expr for m in model.measures] + [s.when for s in model.segments]
    return sorted(
        {name for sql in expressions for name in compile_sql(sql, columns).meta.root_names()}
    )


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
    table = _with_scores(table, model, columns)
    words = REASON_WORDS[language]
    table = _with_reason(table, model, columns, words, language).with_columns(
        health_color=_color(pl.col("health_score"), model),
        health_model_version=pl.lit(model_version(model)),
        health_segment=_segment(model, columns),
    )
    baseline = _baseline_scores(table, model, columns, _nearest(history, model, as_of))
    return _with_trend(table, baseline)


def _with_scores(table: pl.DataFrame, model: HealthModel, columns: Collection[str]) -> pl.DataFrame:
    """Measure scores, then group scores, then the overall `health_score`."""
    table = table.with_columns(
        [_measure_score(m, columns).alias(SCORE_PREFIX + m.id) for m in model.measures]
    )
    table = table.with_columns(
        [_group_score(model, g).alias(GROUP_PREFIX + g) for g in model.groups]
    )
    return table.with_columns(health_score=_overall(model, columns).round(1))


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


def _segment(model: HealthModel, columns: Collection[str]) -> pl.Expr:
    """The name of the segment whose weights scored the account ("default" for none): the
    report breaks KPIs down by it."""
    expr: pl.Expr = pl.lit(DEFAULT_SEGMENT)
    for segment in reversed(model.segments):
        matches = compile_sql(segment.when, columns).fill_null(False)
        expr = pl.when(matches).then(pl.lit(segment.name)).otherwise(expr)
    return expr


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
    values = {g: f"_weakest_value_{g}" for g in groups}
    table = table.with_columns(  # read three times by the text: picked once
        [_weakest_value(model, g, columns).alias(values[g]) for g in groups]
    ).with_columns(
        [
            _group_text(model, g, columns, words, language, pl.col(values[g])).alias(texts[g])
            for g in groups
        ]
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
    rank_of = {g: f"_reason_rank_{g}" for g in groups}
    table = table.with_columns(ranks[g].alias(rank_of[g]) for g in groups)
    parts = []
    for position in range(min(model.reason_groups, len(groups))):
        part: pl.Expr = pl.lit(None, pl.String)
        for g in groups:
            part = pl.when(pl.col(rank_of[g]) == position).then(pl.col(texts[g])).otherwise(part)
        parts.append(part)
    table = table.with_columns(  # read twice below: joined once
        pl.concat_str(parts, separator=words.between_groups, ignore_nulls=True).alias(_REASON)
    )
    reason = pl.col(_REASON)
    reason = pl.when(reason == "").then(pl.lit(words.nothing_scored)).otherwise(reason)
    reason = reason.str.slice(0, 255)
    private = [*texts.values(), *values.values(), *rank_of.values(), _REASON]
    return table.with_columns(health_reason=reason).drop(private)


def _weakest_value(model: HealthModel, group: str, columns: Collection[str]) -> pl.Expr:
    """The raw value of the group's weakest measure (the first of the weakest on a tie)."""
    measures = [m for m in model.measures if m.group == group]
    scores = [pl.col(SCORE_PREFIX + m.id) for m in measures]
    weakest = pl.min_horizontal(scores)
    chosen: pl.Expr = pl.lit(None, pl.Float64)
    for score, measure in reversed(list(zip(scores, measures, strict=True))):
        chosen = pl.when(score == weakest).then(_raw(measure, columns)).otherwise(chosen)
    return chosen


def _group_text(
    model: HealthModel,
    group: str,
    columns: Collection[str],
    words: _ReasonWords,
    language: Language,
    value: pl.Expr,
) -> pl.Expr:
    """ "Deployment 32: Active seats 4/40" (the group's weakest measure), or null without data.

    The weakest measure is chosen on numbers first, so only its value is formatted.
    """
    measures = [m for m in model.measures if m.group == group]
    scores = [pl.col(SCORE_PREFIX + m.id) for m in measures]
    weakest = pl.min_horizontal(scores)

    def pick(choices: list[pl.Expr], otherwise: pl.Expr) -> pl.Expr:
        chosen = otherwise
        for score, choice in reversed(list(zip(scores, choices, strict=True))):
            chosen = pl.when(score == weakest).then(choice).otherwise(chosen)
        return chosen

    label = pick([pl.lit(text_in(m.label, language)) for m in measures], pl.lit(None, pl.String))
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


def _nearest(history: pl.DataFrame, model: HealthModel, as_of: date) -> pl.DataFrame:
    """Per account, the snapshot nearest to `trend_days` before `as_of`, at most
    `trend_tolerance_days` from it (and before `as_of`); on a tie, the earlier one, so the
    trend spans at least the window. Beyond the tolerance there is no baseline."""
    target = as_of - timedelta(days=model.trend_days)
    distance = (pl.col("snapshot_date") - pl.lit(target, pl.Date)).dt.total_days().abs()
    return (
        history.filter(pl.col("snapshot_date") < as_of, distance <= model.trend_tolerance_days)
        .with_columns(_distance=distance)
        .sort("_distance", "snapshot_date")
        .group_by("account_id", maintain_order=True)
        .first()
        .drop("_distance")
    )


def _baseline_scores(
    table: pl.DataFrame, model: HealthModel, columns: Collection[str], nearest: pl.DataFrame
) -> pl.DataFrame:
    """account_id, baseline_date, health_baseline (by the current model), comparable.

    A snapshot of the current version keeps its score; one of another version is re-scored
    from its raw inputs; one without the inputs the current model reads is not comparable.
    """
    current = model_version(model)
    parts = [
        nearest.filter(pl.col("model_version") == current).select(
            "account_id", health_baseline=pl.col("health_score")
        )
    ]
    others = nearest.filter(pl.col("model_version") != current)
    for version in others["model_version"].unique().sort():
        rows = others.filter(pl.col("model_version") == version)
        parts += _rescored(rows, model, columns, table.schema)
    scored = pl.concat(parts).with_columns(comparable=pl.lit(True))
    return nearest.select("account_id", baseline_date=pl.col("snapshot_date")).join(
        scored, on="account_id", how="left"
    )


def _rescored(
    rows: pl.DataFrame,
    model: HealthModel,
    columns: Collection[str],
    schema: Mapping[str, pl.DataType],
) -> list[pl.DataFrame]:
    """The current model's scores of snapshots from one other model version, or nothing when
    they lack a raw value the current model reads (all rows of a version keep the same)."""
    inputs = model_inputs(model, columns)
    kept = rows["inputs"][0]
    if kept is None or not set(inputs) <= set(json.loads(kept)):
        return []
    try:
        frame = _decode_inputs(rows, {name: schema[name] for name in inputs})
        scored = _with_scores(frame, model, inputs)
    except POLARS_ERRORS:  # a kept value that no longer fits its column's type
        return []
    return [scored.select(pl.col("id").alias("account_id"), health_baseline="health_score")]


def _decode_inputs(rows: pl.DataFrame, types: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """One row per snapshot with its kept raw values, typed like today's columns (dates are
    kept as ISO text)."""
    as_read = {name: pl.String() if d.is_temporal() else d for name, d in types.items()}
    frame = rows.select(
        pl.col("account_id").alias("id"),
        pl.col("inputs").str.json_decode(pl.Struct(as_read)).alias("_inputs"),
    ).unnest("_inputs")
    return frame.with_columns(
        [
            pl.col(name).str.strptime(dtype, strict=False)  # type: ignore[arg-type]
            for name, dtype in types.items()
            if dtype.is_temporal()
        ]
    )


def _with_trend(table: pl.DataFrame, baseline: pl.DataFrame) -> pl.DataFrame:
    """Score change since the baseline, the baseline's date, and why there is no trend."""
    comparable = pl.col("comparable").fill_null(False)
    status = (
        pl.when(comparable)
        .then(pl.lit(TREND_OK))
        .when(pl.col("baseline_date").is_not_null())
        .then(pl.lit(TREND_MODEL_CHANGED))
        .otherwise(pl.lit(TREND_NO_BASELINE))
    )
    return (
        table.join(baseline, left_on="id", right_on="account_id", how="left")
        .with_columns(
            health_trend=(pl.col("health_score") - pl.col("health_baseline")).round(1),
            health_trend_baseline_date=pl.when(comparable).then(pl.col("baseline_date")),
            health_trend_status=status,
        )
        .drop("baseline_date", "comparable")
    )
