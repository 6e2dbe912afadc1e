"""The trend compares like with like: the same model, the snapshot nearest to the window.

Snapshots go through a real history store (SQLite), as a run writes and reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from connector.config.playbook import HealthModel, Segment
from connector.engine.health import (
    HISTORY_SCHEMA,
    model_inputs,
    model_version,
    score_health,
)
from connector.store import HistoryStore

MODEL = HealthModel.model_validate(
    {
        "groups": {"deployment": {"label": "Deployment"}, "engagement": {"label": "Engagement"}},
        "segments": [
            {
                "name": "veterans",
                "when": "start < DATE '2025-01-01'",
                "weights": {"deployment": 1, "engagement": 3},
            }
        ],
        "measures": [
            {
                "id": "seats",
                "group": "deployment",
                "label": "Active seats",
                "expr": "active / seats",
                "scale": {"worst": 0.2, "best": 0.8},
            },
            {
                "id": "logins",
                "group": "engagement",
                "label": "Logins",
                "expr": "logins",
                "scale": {"worst": 0, "best": 100},
            },
        ],
        "colors": [{"color": "Green", "min": 70}, {"color": "Red", "min": 0}],
        "trend_days": 30,
    }
)
COLUMNS = ["id", "active", "seats", "logins", "start", "tier"]
TODAY = date(2026, 11, 23)
WINDOW_START = TODAY - timedelta(days=30)


def _accounts(logins: list[float]) -> pl.DataFrame:
    """Accounts a, b, …: the same seats and start, `logins` each."""
    count = len(logins)
    return pl.DataFrame(
        {
            "id": [chr(ord("a") + i) for i in range(count)],
            "active": [4.0] * count,
            "seats": [10.0] * count,
            "logins": logins,
            "start": [date(2024, 6, 1)] * count,
            "tier": ["Low"] * count,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _snapshot(store: HistoryStore, day: date, model: HealthModel, logins: list[float]) -> None:
    """What a run on `day` under `model` keeps: scores, model version and raw inputs."""
    scored = score_health(
        _accounts(logins), model, COLUMNS, history=pl.DataFrame(schema=HISTORY_SCHEMA), as_of=day
    )
    store.save_snapshots("r", day, scored, [], inputs=model_inputs(model, COLUMNS))


def _trend(store: HistoryStore, model: HealthModel, logins: list[float]) -> pl.DataFrame:
    reach = model.trend_days + model.trend_tolerance_days
    history = store.snapshots(since=TODAY - timedelta(days=reach), until=TODAY)
    scored = score_health(_accounts(logins), model, COLUMNS, history=history, as_of=TODAY)
    return scored.select("id", "health_trend", "health_trend_baseline_date", "health_trend_status")


def _reweighted(model: HealthModel) -> HealthModel:
    groups = dict(model.groups)
    groups["engagement"] = groups["engagement"].model_copy(update={"weight": 3.0})
    return model.model_copy(update={"groups": groups})


def test_the_model_version_follows_what_scores_not_what_is_shown() -> None:
    relabelled = MODEL.model_copy(
        update={
            "measures": [MODEL.measures[0].model_copy(update={"label": "Seats in use"})],
            "trend_days": 7,
            "reason_groups": 1,
        }
    )
    assert model_version(relabelled) != model_version(MODEL)  # one measure fewer
    shown_differently = MODEL.model_copy(
        update={
            "measures": [
                MODEL.measures[0].model_copy(update={"label": "Seats in use", "display": "seats"}),
                MODEL.measures[1],
            ],
            "trend_days": 7,
            "reason_groups": 1,
        }
    )
    assert model_version(shown_differently) == model_version(MODEL)
    assert model_version(_reweighted(MODEL)) != model_version(MODEL)
    segmented = MODEL.model_copy(
        update={"segments": [Segment(name="x", when="tier = 'High'", weights={"deployment": 1})]}
    )
    assert model_version(segmented) != model_version(MODEL)


def test_a_weight_edit_alone_moves_no_trend(store: HistoryStore) -> None:
    _snapshot(store, WINDOW_START, MODEL, [40.0, 90.0])
    edited = _reweighted(MODEL)

    trend = _trend(store, edited, [40.0, 90.0])

    assert trend["health_trend"].to_list() == [0.0, 0.0]
    assert trend["health_trend_baseline_date"].to_list() == [WINDOW_START, WINDOW_START]
    assert trend["health_trend_status"].to_list() == ["ok", "ok"]


def test_after_a_model_edit_a_real_change_is_measured_by_the_new_model(
    store: HistoryStore,
) -> None:
    _snapshot(store, WINDOW_START, MODEL, [40.0])
    edited = _reweighted(MODEL)  # veterans: engagement weighs 3 of 4 (segment), else 3 of 4

    trend = _trend(store, edited, [80.0])

    # seats 4/10 score 33.3; logins 40 → 80 move the score by 3/4 × 40 = 30 points
    assert trend["health_trend"].to_list() == [30.0]


def test_the_nearest_snapshot_to_the_window_is_the_baseline(store: HistoryStore) -> None:
    for offset, logins in ((-5, 10.0), (-2, 20.0), (2, 30.0), (4, 60.0)):
        _snapshot(store, WINDOW_START + timedelta(days=offset), MODEL, [logins, logins])
    _snapshot(store, WINDOW_START + timedelta(days=1), MODEL, [50.0])  # account a only

    trend = _trend(store, MODEL, [50.0, 50.0])

    # a: one day after the window start is nearest; b: 2 days before and after tie → earlier
    assert trend["health_trend_baseline_date"].to_list() == [
        WINDOW_START + timedelta(days=1),
        WINDOW_START - timedelta(days=2),
    ]
    assert trend["health_trend"].to_list() == [0.0, 22.5]  # logins 20 → 50, weighed 3 of 4


def test_no_snapshot_near_the_window_gives_no_trend_rather_than_a_stale_one(
    store: HistoryStore,
) -> None:
    _snapshot(store, WINDOW_START - timedelta(days=4), MODEL, [10.0])  # tolerance is 3 days
    _snapshot(store, WINDOW_START + timedelta(days=4), MODEL, [10.0])

    trend = _trend(store, MODEL, [50.0])

    assert trend.row(0) == ("a", None, None, "no baseline")
    wider = MODEL.model_copy(update={"trend_tolerance_days": 4})
    assert _trend(store, wider, [50.0])["health_trend_baseline_date"].to_list() == [
        WINDOW_START - timedelta(days=4)
    ]


def test_a_snapshot_that_cannot_be_rescored_says_model_changed(store: HistoryStore) -> None:
    # from before snapshots kept their model: a score, no version, no raw values
    old = pl.DataFrame({"id": ["a"], "health_score": [80.0], "health_color": ["Green"]})
    store.save_snapshots("old", WINDOW_START, old, [])

    trend = _trend(store, MODEL, [40.0, 40.0])

    assert trend.rows() == [("a", None, None, "model changed"), ("b", None, None, "no baseline")]


def test_a_new_model_reading_a_value_the_snapshot_did_not_keep_says_model_changed(
    store: HistoryStore,
) -> None:
    _snapshot(store, WINDOW_START, MODEL, [40.0])
    reads_more = MODEL.model_copy(
        update={
            "measures": [
                *MODEL.measures,
                MODEL.measures[1].model_copy(update={"id": "tier_score", "expr": "LENGTH(tier)"}),
            ]
        }
    )

    assert _trend(store, reads_more, [40.0]).row(0) == ("a", None, None, "model changed")
