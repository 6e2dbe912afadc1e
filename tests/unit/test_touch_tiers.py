"""Touch tiers from contract ARR, with LTV, and with hysteresis: a tier changes only when
the value is beyond its band by the margin, for the configured days.

Multi-day stories go through a real history store (SQLite), as daily runs would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from connector.config.mapping import Mapping
from connector.config.playbook import TouchTiers
from connector.engine.kept import no_kept_stages, take_state
from connector.engine.tiers import TRACK, assign_tier
from connector.frame import Extract, build_frame
from connector.store import HistoryStore

TIERS = {
    "value": "arr",
    "tiers": [
        {"name": "High", "min": 50000},
        {"name": "Low", "min": 10000},
        {"name": "Tech", "min": 0},
    ],
}
DAY = date(2026, 11, 23)
CRM = {"touch_tier": "_current_tier"}


def _tier(
    arr: list[float | None],
    day: date = DAY,
    *,
    kept: pl.DataFrame | None = None,
    crm: list[str | None] | None = None,
    **settings: object,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    tiers = TouchTiers.model_validate({**TIERS, **settings})
    table = pl.DataFrame(
        {
            "id": [f"a{i}" for i in range(len(arr))],
            "arr": pl.Series(arr, dtype=pl.Float64),
            "_current_tier": pl.Series(crm or [None] * len(arr), dtype=pl.String),
        }
    )
    tiered = assign_tier(
        table,
        tiers,
        ["id", "arr"],
        as_of=day,
        current=CRM,
        kept=kept if kept is not None else no_kept_stages(),
    )
    return take_state(tiered, TRACK, "touch_tier_since")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _run(store: HistoryStore, day: date, arr: list[float | None], **settings: object) -> list[str]:
    tiered, state = _tier(arr, day, kept=store.stages(), **settings)
    store.save_stages(f"run-{day}", state)
    return list(tiered["touch_tier"])


def test_without_history_the_highest_band_reached_and_no_value_the_lowest() -> None:
    tiered, state = _tier([60000.0, 50000.0, 12000.0, 500.0, None])
    assert tiered["touch_tier"].to_list() == ["High", "High", "Low", "Tech", "Tech"]
    assert tiered["touch_tier_since"].to_list() == [DAY] * 5
    assert state["changed"].to_list() == [True] * 5


def test_a_tier_changes_only_beyond_its_band_by_the_margin(store: HistoryStore) -> None:
    _run(store, DAY, [52000.0, 11000.0, 9000.0], margin=0.1)

    # 46,000 is below High's 50,000 but not by 10% (45,000); 9,500 not below 9,000 (Low);
    # 10,500 is above Low's 10,000 but not by 10% (11,000)
    assert _run(store, DAY + timedelta(1), [46000.0, 9500.0, 10500.0], margin=0.1) == [
        "High",
        "Low",
        "Tech",
    ]
    assert _run(store, DAY + timedelta(2), [44000.0, 8900.0, 11000.0], margin=0.1) == [
        "Low",
        "Tech",
        "Low",
    ]
    kept = store.stages().sort("account_id")
    assert kept["entered_on"].to_list() == [DAY + timedelta(2)] * 3


def test_a_tier_changes_only_after_for_days_beyond_its_band(store: HistoryStore) -> None:
    _run(store, DAY, [60000.0, 60000.0], for_days=3)
    tiers = [
        _run(store, DAY + timedelta(days), arr, for_days=3)
        for days, arr in (
            (1, [20000.0, 20000.0]),  # both fall below High: the clock starts
            (2, [20000.0, 55000.0]),  # a1 is back in its band: its clock stops
            (3, [20000.0, 20000.0]),  # a1 starts again
            (4, [20000.0, 20000.0]),  # a0: 3 days → Low
        )
    ]
    assert tiers == [["High", "High"]] * 3 + [["Low", "High"]]
    pending = store.stages().sort("account_id").select("pending_stage", "pending_since")
    assert pending.rows() == [(None, None), ("Low", DAY + timedelta(3))]


def test_the_crms_tier_is_kept_when_the_store_has_none() -> None:
    tiered, state = _tier([46000.0, 30000.0], crm=["High", "High"], margin=0.1)
    assert tiered["touch_tier"].to_list() == ["High", "Low"]
    assert state["changed"].to_list() == [True, True]  # the store learns both


MAPPING = Mapping.model_validate(
    {
        "crm": "salesforce",
        "account": {
            "object": "Account",
            "fields": {"id": "Id", "name": "Name", "owner_id": "OwnerId", "start": "S__c"},
        },
        "opportunity": {
            "object": "Opportunity",
            "fields": {
                "id": "Id",
                "account_id": "AccountId",
                "amount": "Amount",
                "close_date": "CloseDate",
                "type": "Type",
                "won": "IsWon",
            },
            "contract_types": ["New Business", "Renewal"],
        },
        "usage": {"join_key": "id", "metrics": ["logins"]},
        "results": {"touch_tier": "Tier__c"},
    }
)


def _frame(opportunities: list[tuple[str, str, float, date, str, bool]]) -> pl.DataFrame:
    accounts = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "owner_id": ["u"] * 3,
            "start": ["x"] * 3,
        }
    )
    opps = pl.DataFrame(
        opportunities,
        schema={
            "id": pl.String,
            "account_id": pl.String,
            "amount": pl.Float64,
            "close_date": pl.Date,
            "type": pl.String,
            "won": pl.Boolean,
        },
        orient="row",
    )
    usage = pl.DataFrame(
        schema={"account_key": pl.String, "week_start": pl.Date, "logins": pl.Float64}
    )
    return build_frame(Extract(accounts, opps, usage), MAPPING, DAY).sort("id")


def test_arr_is_the_latest_won_contract_term_plus_expansions_won_since() -> None:
    frame = _frame(
        [
            ("o1", "a", 60000.0, date(2024, 3, 1), "New Business", True),
            ("o2", "a", 10000.0, date(2024, 9, 1), "Expansion", True),  # in the renewal
            ("o3", "a", 90000.0, date(2025, 3, 1), "Renewal", True),
            ("o4", "a", 15000.0, date(2026, 1, 10), "Expansion", True),
            ("o5", "a", 95000.0, date(2027, 3, 1), "Renewal", False),  # open: the next one
            ("o6", "b", 20000.0, date(2026, 6, 1), "New Business", True),
            ("o7", "b", 99000.0, date(2026, 12, 1), "Renewal", True),  # won, not begun
            ("o8", "c", 8000.0, date(2027, 1, 1), "Renewal", False),  # no won contract
        ]
    )
    assert frame["contract_arr"].to_list() == [105000.0, 20000.0, None]
    assert frame["contract_term_start"].to_list() == [date(2025, 3, 1), date(2026, 6, 1), None]
    assert frame["arr"].to_list() == [105000.0, 20000.0, 8000.0]  # c: the open renewal's
    assert frame["renewal_amount"].to_list() == [95000.0, None, 8000.0]
    # tenure from the latest term's start (no contract_start mapped) × ARR
    assert frame["ltv"].to_list() == pytest.approx(
        [105000.0 * 632 / 365.25, 20000.0 * 175 / 365.25, None], abs=0.01
    )


def test_a_renewal_closed_won_keeps_the_arr_the_open_one_had() -> None:
    before = _frame([("o1", "a", 90000.0, date(2027, 3, 1), "Renewal", False)])
    after = _frame(
        [
            ("o0", "a", 90000.0, date(2026, 3, 1), "New Business", True),
            ("o1", "a", 90000.0, date(2026, 11, 20), "Renewal", True),  # won early
        ]
    )
    assert before["arr"][0] == after["arr"][0] == 90000.0
    assert after["renewal_amount"][0] is None
