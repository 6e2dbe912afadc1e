"""The churn model is fitted once a day: kept in the store as JSON numbers under the
fingerprint of its history, loaded by a rerun the same day (scoring exactly as the fresh
fit), and fitted again on new closed deals, new snapshots or a new day."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import select

from connector.risk import RiskOptions, churn_risk
from connector.risk.churn import TooLittleHistory, Trained, train
from connector.store import CLOSED_DEAL_SCHEMA, HistoryStore
from connector.store.tables import churn_models
from tests.risk_history import MEASURES, build_history

AS_OF = date(2026, 11, 26)
TODAY = pl.DataFrame(
    {
        "id": ["acc00001", "acc00002", "new"],
        "health_score": [60.0, 40.0, 80.0],
        "logins": [10.0, 200.0, 50.0],
        "days_since_decision_maker_meeting": [170.0, 3.0, 40.0],
        "score_login_activity": [60.0, 20.0, 90.0],
    }
)


def _model(store: HistoryStore, as_of: date = AS_OF) -> Trained:
    result = churn_risk(store, as_of, TODAY)
    assert isinstance(result.model, Trained)
    return result.model


def test_a_rerun_the_same_day_loads_the_model_and_scores_as_the_fresh_fit(
    store: HistoryStore,
) -> None:
    build_history(store, 400, AS_OF)
    fresh = churn_risk(store, AS_OF, TODAY)
    again = churn_risk(store, AS_OF, TODAY)

    assert isinstance(fresh.model, Trained)
    assert isinstance(again.model, Trained)
    assert not fresh.model.loaded
    assert again.model.loaded
    assert_frame_equal(again.scores, fresh.scores)
    assert again.scores["churn_risk"].null_count() == 0
    assert again.model.features == fresh.model.features
    assert again.model.backtest is not None
    assert fresh.model.backtest is not None
    assert again.model.backtest.headline() == fresh.model.backtest.headline()
    assert_frame_equal(
        again.model.backtest.model.reliability, fresh.model.backtest.model.reliability
    )


def test_the_model_is_kept_as_json_numbers_once_per_day_and_history(store: HistoryStore) -> None:
    build_history(store, 400, AS_OF)
    trained = _model(store)
    _model(store)

    with store.engine.connect() as db:
        rows = db.execute(select(churn_models)).all()
    assert len(rows) == 1
    assert rows[0].trained_on == AS_OF
    kept = rows[0].model
    assert json.loads(json.dumps(kept)) == kept  # plain JSON, no pickle
    assert kept["features"] == trained.features
    assert kept["model"]["coefficients"] == trained.model.coefficients.tolist()
    assert kept["model"]["intercept"] == trained.model.intercept
    assert len(kept["model"]["medians"]) == len(trained.features)
    assert trained.backtest is not None
    assert kept["backtest"]["cutoff"] == trained.backtest.cutoff


def test_new_closed_deals_refit(store: HistoryStore) -> None:
    build_history(store, 400, AS_OF)
    _model(store)
    lost = ("late", "acc00003", "renewal", "Renewal", 1000.0, AS_OF, False, None, None)
    store.save_closed_deals("later", pl.DataFrame([lost], schema=CLOSED_DEAL_SCHEMA, orient="row"))

    assert not _model(store).loaded


def test_new_snapshots_refit(store: HistoryStore) -> None:
    build_history(store, 400, AS_OF)
    _model(store)
    backfilled = TODAY.with_columns(health_color=pl.lit("Green"))
    store.save_snapshots("backfill", AS_OF - timedelta(days=500), backfilled, MEASURES)

    assert not _model(store).loaded


def test_todays_own_snapshots_do_not_refit(store: HistoryStore) -> None:
    build_history(store, 400, AS_OF)
    _model(store)
    store.save_snapshots("run", AS_OF, TODAY.with_columns(health_color=pl.lit("Green")), MEASURES)

    assert _model(store).loaded


def test_a_new_day_refits(store: HistoryStore) -> None:
    build_history(store, 400, AS_OF)
    _model(store)

    assert not _model(store, AS_OF + timedelta(days=1)).loaded
    assert _model(store, AS_OF + timedelta(days=1)).loaded


def test_the_guard_reads_todays_margin_on_a_loaded_model(store: HistoryStore) -> None:
    build_history(store, 400, AS_OF)
    trained = _model(store)
    assert trained.withheld is None
    assert trained.backtest is not None
    strict = RiskOptions(min_auc_gain=round(trained.backtest.gain + 0.01, 2))

    result = churn_risk(store, AS_OF, TODAY, options=strict)

    assert isinstance(result.model, Trained)
    assert result.model.loaded
    assert result.model.withheld is not None
    assert result.scores["churn_risk"].null_count() == TODAY.height


def test_too_little_history_is_kept_for_the_day_and_not_looked_up_again(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding there is too little to fit reads every renewal's snapshots: a young store's
    same-day rerun keeps the answer, and asking for less history fits at once."""
    build_history(store, 400, AS_OF)
    looked_up: list[int] = []
    read = store.latest_snapshots

    def counted(*args: Any, **kwargs: Any) -> pl.DataFrame:
        looked_up.append(1)
        return read(*args, **kwargs)

    monkeypatch.setattr(store, "latest_snapshots", counted)
    wanting_more = RiskOptions(min_renewals=100_000)
    first = train(store, AS_OF, wanting_more)
    again = train(store, AS_OF, wanting_more)

    assert isinstance(first, TooLittleHistory)
    assert again == first
    assert len(looked_up) == 1
    assert isinstance(train(store, AS_OF, RiskOptions()), Trained)
