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


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A fitted model as the numbers it is — imputer medians, scaler means and scales, the
    coefficients and intercept — so the store can keep it as JSON (never a pickle) and a
    model loaded from there scores exactly as the one just fitted: both score through here.
    """

    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    coefficients: np.ndarray
    intercept: float

    @classmethod
    def of(cls, fitted: Pipeline) -> LinearModel:
        return cls(
            np.asarray(fitted.named_steps["impute"].statistics_, dtype=np.float64),
            np.asarray(fitted.named_steps["scale"].mean_, dtype=np.float64),
            np.asarray(fitted.named_steps["scale"].scale_, dtype=np.float64),
            np.asarray(fitted.named_steps["fit"].coef_[0], dtype=np.float64),
            float(fitted.named_steps["fit"].intercept_[0]),
        )

    def standardised(self, x: np.ndarray) -> np.ndarray:
        """Missing values imputed by the training medians, then standardised."""
        imputed = np.where(np.isnan(x), self.medians, x)
        return np.asarray((imputed - self.means) / self.scales, dtype=np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per row and feature, how much it moves the log-odds of churn from a row at the
        training mean: positive pushes risk up."""
        return np.asarray(self.standardised(x) * self.coefficients, dtype=np.float64)

    def risk(self, x: np.ndarray) -> np.ndarray:
        """Each row's probability of churn, 0–1 (a logistic that cannot overflow)."""
        logit = self.standardised(x) @ self.coefficients + self.intercept
        return np.asarray(np.exp(-np.logaddexp(0.0, -logit)), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "medians": self.medians.tolist(),
            "means": self.means.tolist(),
            "scales": self.scales.tolist(),
            "coefficients": self.coefficients.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearModel:
        def array(key: str) -> np.ndarray:
            return np.asarray(data[key], dtype=np.float64).reshape(-1)

        return cls(
            array("medians"),
            array("means"),
            array("scales"),
            array("coefficients"),
            float(data["intercept"]),
        )


def fit(rows: pl.DataFrame, features: Sequence[str]) -> LinearModel:
    model = new_model()
    model.fit(matrix(rows, features), rows["churned"].cast(pl.Int64).to_numpy())
    return LinearModel.of(model)


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


def risk_of(model: LinearModel, rows: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
    """Each row's probability of churn, 0–1."""
    return model.risk(matrix(rows, features))


@dataclass(frozen=True, slots=True)
class Scores:
    """How well one model ranked and calibrated the test renewals."""

    auc: float
    brier: float
    reliability: pl.DataFrame  # RELIABILITY_SCHEMA: by quintile of predicted risk

    def to_json(self) -> dict[str, Any]:
        return {"auc": self.auc, "brier": self.brier, "reliability": self.reliability.rows()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scores:
        rows = [tuple(row) for row in data["reliability"]]
        reliability = pl.DataFrame(rows, schema=RELIABILITY_SCHEMA, orient="row")
        return cls(float(data["auc"]), float(data["brier"]), reliability)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "train_renewals": self.train_renewals,
            "train_churned": self.train_churned,
            "test_renewals": self.test_renewals,
            "test_churned": self.test_churned,
            "model": self.model.to_json(),
            "baseline": self.baseline.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Backtest:
        return cls(
            str(data["cutoff"]),
            int(data["train_renewals"]),
            int(data["train_churned"]),
            int(data["test_renewals"]),
            int(data["test_churned"]),
            Scores.from_json(data["model"]),
            Scores.from_json(data["baseline"]),
        )

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


def _scores(model: LinearModel, test: pl.DataFrame, features: Sequence[str]) -> Scores:
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
