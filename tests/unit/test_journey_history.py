"""Journey stages keep their history: forward by the stage rules, back only by a regression
rule that has held for its `for_days`, the dwell clock running from the stage's entry.

Multi-day stories go through a real history store (SQLite), as daily runs would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from connector.config.playbook import Journey
from connector.engine.journey import TRACK, assign_stage
from connector.engine.kept import no_kept_stages, take_state
from connector.store import HistoryStore

JOURNEY = Journey.model_validate(
    {
        "stages": [
            {"name": "Onboarding", "done_when": "active >= 5"},
            {"name": "Adoption", "done_when": "logins >= 10"},
            {"name": "Value", "done_when": "score >= 70"},
            {"name": "Advocacy"},
        ],
        "regressions": [
            {"from": ["Value", "Advocacy"], "to": "Adoption", "when": "logins < 5", "for_days": 3}
        ],
    }
)
DAY = date(2026, 11, 2)
CRM = {"journey_stage": "_current_stage", "journey_stage_since": "_current_since"}


def _accounts(**columns: list[object]) -> pl.DataFrame:
    count = len(next(iter(columns.values())))
    frame = pl.DataFrame(
        {"id": [f"a{i}" for i in range(count)], **columns},
        schema_overrides={"active": pl.Float64, "logins": pl.Float64, "score": pl.Float64},
    )
    for name in ("_current_stage", "_current_since"):
        if name not in frame.columns:
            frame = frame.with_columns(
                pl.lit(None, pl.Date if "since" in name else pl.String).alias(name)
            )
    return frame


def _stage(
    table: pl.DataFrame, day: date, kept: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    staged = assign_stage(
        table,
        JOURNEY,
        table.columns,
        as_of=day,
        current=CRM,
        kept=kept if kept is not None else no_kept_stages(),
    )
    return take_state(staged, TRACK, "journey_stage_since")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    opened = HistoryStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _run(store: HistoryStore, day: date, table: pl.DataFrame) -> pl.DataFrame:
    """One real run: start from the kept stages, record what it leaves."""
    staged, state = _stage(table, day, store.stages())
    store.save_stages(f"run-{day}", state)
    return staged


def test_a_first_run_takes_the_crms_stage_and_date_and_moves_forward_from_there() -> None:
    table = _accounts(
        active=[1.0, 6.0, 6.0, 6.0],
        logins=[50.0, 1.0, 20.0, None],
        score=[0.0, 0.0, 0.0, 0.0],
        _current_stage=["Onboarding", "Onboarding", "Value", None],
        _current_since=[date(2026, 9, 1), date(2026, 9, 1), date(2026, 10, 1), None],
    )
    staged, state = _stage(table, DAY)

    assert staged["journey_stage"].to_list() == ["Onboarding", "Adoption", "Value", "Adoption"]
    assert staged["journey_stage_since"].to_list() == [
        date(2026, 9, 1),
        DAY,
        date(2026, 10, 1),
        DAY,
    ]
    assert staged["days_in_stage"].to_list() == [62, 0, 32, 0]
    assert state["changed"].to_list() == [True] * 4  # the store knew none of them yet
    assert not any(c.startswith("_kept") or c.startswith("_pending") for c in staged.columns)


def test_one_weak_week_neither_moves_an_account_back_nor_restarts_its_clock(
    store: HistoryStore,
) -> None:
    _run(store, DAY, _accounts(active=[6.0], logins=[20.0], score=[80.0]))  # Advocacy
    weak = _accounts(active=[1.0], logins=[2.0], score=[30.0])  # every criterion fails

    staged = _run(store, DAY + timedelta(days=7), weak)

    assert staged.select("journey_stage", "journey_stage_since", "days_in_stage").row(0) == (
        "Advocacy",
        DAY,
        7,
    )


def test_the_regression_rule_moves_back_once_it_has_held_for_its_days(
    store: HistoryStore,
) -> None:
    _run(store, DAY, _accounts(active=[6.0, 6.0], logins=[20.0, 20.0], score=[80.0, 80.0]))
    weak = _accounts(active=[6.0, 6.0], logins=[2.0, 2.0], score=[80.0, 80.0])
    recovered = _accounts(active=[6.0, 6.0], logins=[2.0, 20.0], score=[80.0, 80.0])
    days = [DAY + timedelta(days=n) for n in range(1, 6)]

    stages = [
        _run(store, days[0], weak),  # the rule starts to hold for both
        _run(store, days[1], recovered),  # account a1 recovers: its clock stops
        _run(store, days[2], weak),  # a1 holds again, from today
        _run(store, days[3], weak),  # a0: 3 days since the rule first held → back
        _run(store, days[4], weak),
    ]

    assert [s["journey_stage"].to_list() for s in stages] == [
        ["Advocacy", "Advocacy"],
        ["Advocacy", "Advocacy"],
        ["Advocacy", "Advocacy"],
        ["Adoption", "Advocacy"],
        ["Adoption", "Advocacy"],
    ]
    assert stages[3]["journey_stage_since"].to_list() == [days[3], DAY]
    history = store.stages().sort("account_id")
    assert history.select("stage", "entered_on", "pending_stage", "pending_since").rows() == [
        ("Adoption", days[3], None, None),
        ("Advocacy", DAY, "Adoption", days[2]),  # moves back on days[2] + 3
    ]


def test_no_move_into_a_stage_a_regression_rule_would_take_it_out_of() -> None:
    # stage rules reach Value, but the rule out of Value holds: the account stays in
    # Adoption rather than going back and forth
    staged, _ = _stage(
        _accounts(
            active=[6.0, 6.0],
            logins=[4.0, 12.0],
            score=[80.0, 80.0],
            _current_stage=["Adoption", "Adoption"],
            _current_since=[date(2026, 10, 1), date(2026, 10, 1)],
        ),
        DAY,
    )
    assert staged["journey_stage"].to_list() == ["Adoption", "Advocacy"]
    assert staged["journey_stage_since"].to_list() == [date(2026, 10, 1), DAY]


def test_the_store_wins_over_the_crm_and_a_rerun_changes_nothing(store: HistoryStore) -> None:
    _run(store, DAY, _accounts(active=[6.0], logins=[20.0], score=[10.0]))  # Value
    # someone typed another stage into the CRM; the store's history decides
    typed = _accounts(
        active=[6.0],
        logins=[20.0],
        score=[10.0],
        _current_stage=["Onboarding"],
        _current_since=[date(2026, 1, 1)],
    )
    later = DAY + timedelta(days=5)

    staged, state = _stage(typed, later, store.stages())
    store.save_stages("again", state)
    _, rerun = _stage(typed, later, store.stages())

    assert staged.select("journey_stage", "journey_stage_since").row(0) == ("Value", DAY)
    assert state["changed"].to_list() == rerun["changed"].to_list() == [False]
