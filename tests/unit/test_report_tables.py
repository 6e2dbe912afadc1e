"""The report's health tables on a hand-made store: latest snapshot per account, colours in
the model's order, at-risk ARR from the deals (else the snapshot's own ARR)."""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.report.tables import at_risk_by_owner, health_distribution, score_trend
from connector.store import CLOSED_DEAL_SCHEMA

D = date
SNAPSHOTS = pl.DataFrame(
    {
        "account_id": ["a", "a", "b", "c", "d"],
        "snapshot_date": [D(2026, 11, 1), D(2026, 11, 2), D(2026, 11, 2), D(2026, 11, 2), None],
        "health_score": [80.0, 20.0, 30.0, 90.0, None],
        "health_color": ["Green", "Red", "Red", "Green", None],
        "owner_name": ["Aiko", "Aiko", "Ben", "Ben", None],
        "arr": [None, None, 500.0, 700.0, None],
    }
).drop_nulls("snapshot_date")
DEALS = pl.DataFrame(
    [("o1", "a", "new_business", "New", 1200.0, D(2026, 1, 1), True, None, None)],
    schema=CLOSED_DEAL_SCHEMA,
    orient="row",
)


def test_health_distribution_counts_latest_colours_in_the_models_order() -> None:
    table = health_distribution(SNAPSHOTS, ["Green", "Yellow", "Red"])
    assert table.rows() == [("Green", 1), ("Yellow", 0), ("Red", 2)]


def test_score_trend_averages_each_day() -> None:
    assert score_trend(SNAPSHOTS).rows() == [
        (D(2026, 11, 1), 1, 80.0),
        (D(2026, 11, 2), 3, 140 / 3),
    ]


def test_at_risk_arr_by_owner_takes_deals_then_the_snapshots_arr() -> None:
    table = at_risk_by_owner(DEALS, SNAPSHOTS, "Red", D(2026, 11, 2))
    assert table.rows() == [("Aiko", 1, 1200.0), ("Ben", 1, 500.0)]
