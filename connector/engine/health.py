"""Weighted health score: each measure scaled to 0–100, missing data handled explicitly."""

from __future__ import annotations

from collections.abc import Collection
from functools import reduce
from operator import add

import polars as pl

from connector.config.playbook import HealthModel, Measure
from connector.engine.expressions import compile_sql

SCORE_PREFIX = "score_"


def health_columns(model: HealthModel) -> list[str]:
    """Columns the health model adds to the table."""
    return ["health_score", "health_color", *(SCORE_PREFIX + m.id for m in model.measures)]


def score_health(table: pl.DataFrame, model: HealthModel, columns: Collection[str]) -> pl.DataFrame:
    """Add per-measure scores, the overall score (1 decimal) and its colour band."""
    measure_scores = [_measure_score(m, columns).alias(SCORE_PREFIX + m.id) for m in model.measures]
    table = table.with_columns(measure_scores)
    weighted = [pl.col(SCORE_PREFIX + m.id) * m.weight for m in model.measures]
    weights = [
        pl.when(pl.col(SCORE_PREFIX + m.id).is_not_null()).then(m.weight).otherwise(0.0)
        for m in model.measures
    ]
    total_weight = reduce(add, weights)
    score = (
        pl.when(total_weight > 0)
        .then(pl.sum_horizontal(weighted) / total_weight)
        .otherwise(None)
        .round(1)
    )
    return table.with_columns(health_score=score).with_columns(
        health_color=_color(pl.col("health_score"), model)
    )


def _measure_score(measure: Measure, columns: Collection[str]) -> pl.Expr:
    raw = compile_sql(measure.expr, columns).cast(pl.Float64)
    worst, best = measure.scale.worst, measure.scale.best
    scaled = ((raw - worst) / (best - worst)).clip(0.0, 1.0) * 100.0
    scaled = pl.when(raw.is_nan()).then(None).otherwise(scaled)
    if measure.if_missing == "reweight":
        return scaled
    return scaled.fill_null(float(measure.if_missing))


def _color(score: pl.Expr, model: HealthModel) -> pl.Expr:
    """Highest band whose `min` the score reaches; a null score has no colour."""
    expr: pl.Expr = pl.lit(None, pl.String)
    for band in sorted(model.colors, key=lambda band: band.min):
        expr = pl.when(score >= band.min).then(pl.lit(band.color)).otherwise(expr)
    return expr
