"""Train from the store, score the run's accounts: the churn risk the run writes and rules
read (`churn_risk > 0.6`), and its reasons.

With too little history there is no model: the columns stay null, so nothing is written
(existing values are left alone) and no rule comparing `churn_risk` fires. A model that does
not beat the health score alone on its backtest is withheld: null columns too, and the plan
clears what an earlier run wrote, so no CSM reads a score nobody stands behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from typing import Any

import polars as pl

from connector.config.playbook import HealthModel
from connector.engine.columns import RISK_TYPES
from connector.engine.health import GROUP_PREFIX, SCORE_PREFIX
from connector.language import DEFAULT_LANGUAGE, Language, LocalText
from connector.risk.features import feature_names, with_trends
from connector.risk.saved import SavedModel, fingerprint
from connector.risk.training import RENEWAL, Window, lookups, renewals_before, training_set
from connector.settings import Settings
from connector.store import HistoryStore

WITHHELD = "Churn risk is not written, and values an earlier run wrote are cleared."
DIGITS = 3  # churn risk is a fraction 0–1, written with three decimals
TOO_LITTLE = "too_little_history"  # a kept day whose history could not fit a model
HEALTH_SCORE_LABEL: LocalText = {"en": "Health score", "ja": "ヘルススコア"}
BUILT_IN_LABELS: dict[str, LocalText] = {
    "health_score": HEALTH_SCORE_LABEL,
    "days_since_decision_maker_meeting": {
        "en": "decision-maker meeting",
        "ja": "意思決定者との面談",
    },
    "arr": "ARR",
}


@dataclass(frozen=True, slots=True)
class RiskOptions:
    """How much history a model needs (`CHURN_RISK_MIN_RENEWALS`, `…_MIN_CHURNED`), when
    its features are read (`CHURN_RISK_LEAD_DAYS` before each renewal closed) and by how
    much its backtest AUC must beat the health score's alone (`CHURN_RISK_MIN_AUC_GAIN`)."""

    min_renewals: int = 50
    min_churned: int = 10
    window: Window = field(default_factory=Window)
    min_auc_gain: float = 0.05

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RiskOptions:
        return cls(
            int(data["min_renewals"]),
            int(data["min_churned"]),
            Window(**{k: int(v) for k, v in data["window"].items()}),
            float(data["min_auc_gain"]),
        )

    @classmethod
    def of(cls, settings: Settings) -> RiskOptions:
        return cls(
            settings.churn_risk_min_renewals,
            settings.churn_risk_min_churned,
            Window(lead=settings.churn_risk_lead_days),
            settings.churn_risk_min_auc_gain,
        )


@dataclass(frozen=True, slots=True)
class TooLittleHistory:
    renewals: int  # labelled renewals (with a snapshot before them)
    churned: int
    dropped: int  # closed renewals without a snapshot near their features day
    options: RiskOptions

    @property
    def message(self) -> str:
        need = self.options
        return (
            f"not enough history for a churn-risk model: {self.renewals} renewals with a "
            f"snapshot {need.window.lead} days before they closed ({self.churned} churned, "
            f"{self.dropped} more without one); it needs {need.min_renewals} renewals and "
            f"{need.min_churned} churned. Churn risk is not written until then."
        )


@dataclass(frozen=True, slots=True)
class Trained(SavedModel):
    """A saved model (fitted now or kept from earlier today) with what scoring today needs."""

    recent: pl.DataFrame  # snapshots around `trend_days` before the run: today's trends
    options: RiskOptions
    loaded: bool = False  # from the store's model of the day, not fitted by this call

    @classmethod
    def of(
        cls, saved: SavedModel, recent: pl.DataFrame, options: RiskOptions, *, loaded: bool
    ) -> Trained:
        """A fitted (or kept) model with the baselines of the accounts it will score."""
        return cls(**_saved_fields(saved), recent=recent, options=options, loaded=loaded)

    def saved(self) -> SavedModel:
        """What a store or a plan's snapshot keeps of it."""
        return SavedModel(**_saved_fields(self))

    @property
    def withheld(self) -> str | None:
        """Why its scores are not published — its backtest does not show it beating the
        health score alone by `min_auc_gain` — or None when they are."""
        test, margin = self.backtest, self.options.min_auc_gain
        if test is None:
            return (
                f"the churn-risk model cannot be tested: the time split of its {self.renewals} "
                f"renewals ({self.churned} churned) leaves one side without a churned or a "
                f"renewed account, so it is not shown to beat the health score alone. {WITHHELD}"
            )
        if test.gain > margin:
            return None
        return (
            f"the churn-risk model does not beat the health score alone: AUC "
            f"{test.model.auc:.2f} against {test.baseline.auc:.2f} on the "
            f"{test.test_renewals} renewals closed from {test.cutoff}; it must be higher by "
            f"more than {margin:.2f} (CHURN_RISK_MIN_AUC_GAIN). {WITHHELD}"
        )


@dataclass(frozen=True, slots=True)
class RiskResult:
    """The accounts' `churn_risk` and `churn_risk_reasons` (null without a model), and the
    model or why there is none."""

    scores: pl.DataFrame  # id, churn_risk, churn_risk_reasons
    model: Trained | TooLittleHistory


@dataclass(frozen=True, slots=True)
class DayModel:
    """The day's model, or that there was too little history to fit one, under the
    history's fingerprint; `loaded` when the store already kept it."""

    fitted: SavedModel | TooLittleHistory
    as_of: date
    fingerprint: str
    loaded: bool


def train(
    store: HistoryStore,
    as_of: date,
    options: RiskOptions | None = None,
    accounts: Iterable[str] = (),
) -> Trained | TooLittleHistory:
    """A model from every closed renewal the store holds before `as_of`, or why not;
    `accounts`: those it will score, whose snapshots `trend_days` ago it keeps. Fitted once
    a day: a model the store kept for this day and history is loaded, not fitted again."""
    options = options or RiskOptions()
    return ready_to_score(store, day_model(store, as_of, options), options, accounts)


def day_model(store: HistoryStore, as_of: date, options: RiskOptions) -> DayModel:
    """The model kept for this day and history, or one fitted now: reads only, so a run
    does it beside its CRM reads, which it does not depend on."""
    window = options.window
    renewals = renewals_before(store.closed_deals(kind=RENEWAL), as_of, window.lead)
    needs = (options.min_renewals, options.min_churned)
    key = fingerprint(renewals, store.snapshot_stamp(as_of), window, needs)
    kept = store.churn_model(as_of, key)
    if kept is None:
        return DayModel(_fit(store, renewals, options), as_of, key, loaded=False)
    if TOO_LITTLE in kept:
        renewals_kept, churned, dropped = (int(n) for n in kept[TOO_LITTLE])
        too_little = TooLittleHistory(renewals_kept, churned, dropped, options)
        return DayModel(too_little, as_of, key, loaded=True)
    return DayModel(SavedModel.from_json(kept), as_of, key, loaded=True)


def ready_to_score(
    store: HistoryStore, model: DayModel, options: RiskOptions, accounts: Iterable[str]
) -> Trained | TooLittleHistory:
    """Keep a model fitted now for the day's other runs; with the snapshots of `accounts`
    `trend_days` ago that today's trends start from."""
    if not model.loaded:
        store.save_churn_model(model.as_of, model.fingerprint, _kept(model.fitted))
    if isinstance(model.fitted, TooLittleHistory):
        return model.fitted
    window = options.window
    baseline = model.as_of - timedelta(days=window.trend_days)
    points = pl.DataFrame({"account_id": pl.Series(accounts, dtype=pl.String)})
    recent = store.latest_snapshots(points.with_columns(day=pl.lit(baseline)), window.tolerance)
    return Trained.of(model.fitted, recent, options, loaded=model.loaded)


def _kept(fitted: SavedModel | TooLittleHistory) -> dict[str, Any]:
    """What the day keeps under the history's fingerprint: the model, or that there was
    too little to fit one (finding that out reads every renewal's snapshots, which a
    young store's every rerun would otherwise do again)."""
    if isinstance(fitted, TooLittleHistory):
        return {TOO_LITTLE: [fitted.renewals, fitted.churned, fitted.dropped]}
    return fitted.to_json()


def _fit(
    store: HistoryStore, renewals: pl.DataFrame, options: RiskOptions
) -> SavedModel | TooLittleHistory:
    """Read the renewals' snapshots and fit, with the backtest: the costly part."""
    window = options.window
    snapshots = store.latest_snapshots(lookups(renewals, window), window.tolerance)
    if snapshots.is_empty():
        return TooLittleHistory(0, 0, renewals.height, options)
    data = training_set(renewals, snapshots, window)
    churned = int(data.rows["churned"].sum())
    labelled = data.rows.height
    if labelled < options.min_renewals or churned < options.min_churned:
        return TooLittleHistory(labelled, churned, data.dropped, options)
    features = feature_names(data.measures)
    from connector.risk.model import backtest, fit  # numpy: only when a model is fitted

    return SavedModel(
        fit(data.rows, features),
        features,
        data.measures,
        labelled,
        churned,
        data.dropped,
        backtest(data.rows, features),
    )


def _saved_fields(model: SavedModel) -> dict[str, Any]:
    return {f.name: getattr(model, f.name) for f in fields(SavedModel)}


def score(
    trained: Trained,
    table: pl.DataFrame,
    as_of: date,
    language: Language,
    labels: dict[str, LocalText] | None = None,
) -> pl.DataFrame:
    """Each account's risk (0–1, three decimals) and reasons, from its measures in `table`
    and how they moved since the snapshot `trend_days` before `as_of`."""
    window = trained.options.window
    now = table.select(
        pl.col("id").cast(pl.String).alias("account_id"),
        pl.lit(as_of).alias("point"),
        *(
            (pl.col(m) if m in table.columns else pl.lit(None)).cast(pl.Float64).alias(m)
            for m in trained.measures
        ),
    )
    rows = with_trends(now, trained.recent, trained.measures, window.trend_days, window.tolerance)
    from connector.risk.model import matrix, risk_of  # numpy: only when a model scores
    from connector.risk.reasons import reasons

    x = matrix(rows, trained.features)
    texts = reasons(
        trained.model, x, trained.features, labels or BUILT_IN_LABELS, language, window.trend_days
    )
    return pl.DataFrame(
        {
            "id": table["id"],
            "churn_risk": risk_of(trained.model, rows, trained.features).round(DIGITS),
            "churn_risk_reasons": pl.Series(texts, dtype=pl.String),
        },
        schema_overrides=RISK_TYPES,
    )


def no_scores(table: pl.DataFrame) -> pl.DataFrame:
    """Null risk for every account: nothing to write, no rule on it fires."""
    return table.select("id").with_columns(
        pl.lit(None, dtype=dtype).alias(name) for name, dtype in RISK_TYPES.items()
    )


def measure_labels(health: HealthModel) -> dict[str, LocalText]:
    """The name a CSM knows each measure by: the health model's label for a measure's score,
    a group's score, or a metric a measure reads as it is; built-in words otherwise."""
    labels = dict(BUILT_IN_LABELS)
    labels |= {m.expr.strip(): m.label for m in health.measures if m.expr.strip().isidentifier()}
    labels |= {SCORE_PREFIX + m.id: m.label for m in health.measures}
    labels |= {GROUP_PREFIX + name: group.label for name, group in health.groups.items()}
    return labels


def churn_risk(
    store: HistoryStore,
    as_of: date,
    current_table: pl.DataFrame,
    language: Language = DEFAULT_LANGUAGE,
    *,
    health: HealthModel | None = None,
    options: RiskOptions | None = None,
) -> RiskResult:
    """Train on the store's history before `as_of` and score `current_table` (the evaluated
    account table); with too little history or a withheld model, null scores and the
    reason."""
    model = train(store, as_of, options, current_table["id"].cast(pl.String))
    if isinstance(model, TooLittleHistory) or model.withheld:
        return RiskResult(no_scores(current_table), model)
    labels = measure_labels(health) if health is not None else None
    return RiskResult(score(model, current_table, as_of, language, labels), model)
