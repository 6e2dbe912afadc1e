"""The model and its honest test: a class-weighted, regularised logistic regression on
standardised features (missing values imputed), checked on a time split against the same
model given the health score alone.

A time split, not a shuffle: trained on renewals that closed before a cutoff and tested on
those after it, as the model will be used — on renewals it has not seen yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:  # sklearn (~2 s CPU to import) is loaded when a model is fitted, so
    # `validate` and the other commands do not pay for it
    from sklearn.pipeline import Pipeline

BASELINE_FEATURE = "health_score"
TRAIN_SHARE = 0.7  # of the renewals, by close date, the backtest trains on
BINS = 5  # the reliability table's groups (quintiles of predicted risk)
RELIABILITY_SCHEMA = {
    "bin": pl.Int64,
    "accounts": pl.Int64,
    "predicted": pl.Float64,
    "observed": pl.Float64,
}


def new_model() -> Pipeline:
    """Median-imputed, standardised, L2-regularised; churned renewals weighted up to
    balance the classes (they are the few)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("fit", LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)),
        ]
    )


def fit(rows: pl.DataFrame, features: Sequence[str]) -> Pipeline:
    model = new_model()
    model.fit(matrix(rows, features), rows["churned"].cast(pl.Int64).to_numpy())
    return model


def matrix(rows: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as floats, NaN where missing (a column the rows lack is all missing)."""
    columns = [
        rows[name].cast(pl.Float64)
        if name in rows.columns
        else pl.Series(name, [None] * rows.height, pl.Float64)
        for name in features
    ]
    return (
        pl.DataFrame(columns).to_numpy().astype(np.float64)
        if columns
        else np.empty((rows.height, 0))
    )


def risk_of(model: Pipeline, rows: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Each row's probability of churn, 0–1."""
    return np.asarray(model.predict_proba(matrix(rows, features))[:, 1], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Scores:
    """How well one model ranked and calibrated the test renewals."""

    auc: float
    brier: float
    reliability: pl.DataFrame  # RELIABILITY_SCHEMA: by quintile of predicted risk


@dataclass(frozen=True, slots=True)
class Backtest:
    cutoff: str  # ISO date: trained on renewals closed before it, tested on the rest
    train_renewals: int
    train_churned: int
    test_renewals: int
    test_churned: int
    model: Scores
    baseline: Scores  # the same model on the health score alone

    @property
    def gain(self) -> float:
        """How much better the model ranked the test renewals than the health score alone."""
        return self.model.auc - self.baseline.auc

    def headline(self) -> dict[str, Any]:
        """The numbers a run's summary carries (and `make demo` prints)."""
        return {
            "cutoff": self.cutoff,
            "train_renewals": self.train_renewals,
            "test_renewals": self.test_renewals,
            "test_churned": self.test_churned,
            "auc": round(self.model.auc, 3),
            "baseline_auc": round(self.baseline.auc, 3),
            "brier": round(self.model.brier, 3),
            "baseline_brier": round(self.baseline.brier, 3),
        }


def backtest(rows: pl.DataFrame, features: Sequence[str]) -> Backtest | None:
    """Train before the cutoff, test after; None when either side lacks a churned or a
    renewed account (no AUC can be told)."""
    ordered = rows.sort("close_date")
    cutoff = ordered["close_date"][int(ordered.height * TRAIN_SHARE)] if ordered.height else None
    if cutoff is None:
        return None
    train, test = (
        ordered.filter(pl.col("close_date") < cutoff),
        ordered.filter(pl.col("close_date") >= cutoff),
    )
    if any(part["churned"].n_unique() < 2 for part in (train, test)):
        return None
    baseline = [BASELINE_FEATURE]
    return Backtest(
        cutoff.isoformat(),
        train.height,
        int(train["churned"].sum()),
        test.height,
        int(test["churned"].sum()),
        _scores(fit(train, features), test, features),
        _scores(fit(train, baseline), test, baseline),
    )


def _scores(model: Pipeline, test: pl.DataFrame, features: Sequence[str]) -> Scores:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    truth = test["churned"].cast(pl.Int64).to_numpy()
    predicted = risk_of(model, test, features)
    return Scores(
        float(roc_auc_score(truth, predicted)),
        float(brier_score_loss(truth, predicted)),
        reliability(predicted, truth),
    )


def reliability(predicted: np.ndarray, truth: np.ndarray) -> pl.DataFrame:
    """Predicted against observed churn, by quintile of predicted risk (1 = lowest)."""
    frame = pl.DataFrame({"predicted": predicted, "observed": truth.astype(np.float64)})
    ranked = frame.with_columns(
        bin=(pl.col("predicted").rank("ordinal") - 1) * BINS // frame.height + 1
    )
    return (
        ranked.group_by("bin")
        .agg(
            accounts=pl.len(),
            predicted=pl.col("predicted").mean(),
            observed=pl.col("observed").mean(),
        )
        .sort("bin")
        .select(pl.col(n).cast(t) for n, t in RELIABILITY_SCHEMA.items())
    )
