"""Snapshots and run records survive, replace per day, and read back as frames."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy import event

from connector.store import (
    CLOSED_DEAL_SCHEMA,
    TASK_OUTCOME_SCHEMA,
    HistoryStore,
    LedgerTask,
    RunRecord,
)
from connector.store.history import SNAPSHOT_BATCH, closed_deal_changes
from connector.store.snapshot_rows import snapshot_rows

DAY = date(2026, 11, 23)


def _table(scores: list[float | None], logins: list[float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"001{i}" for i in range(len(scores))],
            "health_score": pl.Series(scores, dtype=pl.Float64),
            "health_color": ["Red" if (s or 0) < 50 else "Green" for s in scores],
            "logins": pl.Series(logins, dtype=pl.Float64),
        }
    )


def test_opening_twice_migrates_once(store: HistoryStore) -> None:
    store.migrate()
    assert store.runs() == []


def test_snapshots_upsert_per_account_and_day(store: HistoryStore) -> None:
    store.save_snapshots("run1", DAY, _table([10.0, 80.0], [1.0, None]), ["logins"])
    store.save_snapshots("run2", DAY, _table([20.0, 80.0], [2.0, 5.0]), ["logins"])
    store.save_snapshots("run3", date(2026, 11, 24), _table([30.0, 90.0], [3.0, 6.0]), ["logins"])

    history = store.snapshots(since=date(2026, 11, 1), until=date(2026, 11, 24))

    assert history.select("account_id", "snapshot_date", "health_score", "logins").rows() == [
        ("0010", DAY, 20.0, 2.0),
        ("0011", DAY, 80.0, 5.0),
    ]


def test_a_measure_kept_from_a_later_day_on_is_read_back(store: HistoryStore) -> None:
    """A metric RevOps adds shows up in later snapshots only: it must not be lost because
    the first hundred rows read lack it (a churn-risk feature, a trend's baseline)."""
    first = DAY - timedelta(days=120)
    for day in range(120):
        store.save_snapshots("old", first + timedelta(days=day), _table([50.0], [1.0]), ["logins"])
    added = _table([50.0], [1.0]).with_columns(seats=pl.lit(7.0))
    store.save_snapshots("new", DAY, added, ["logins", "seats"])

    history = store.snapshots(since=first, until=DAY + timedelta(days=1))

    assert history["seats"].to_list() == [None] * 120 + [7.0]


POINTS = {"account_id": pl.String, "day": pl.Date}


def test_latest_snapshots_finds_each_points_latest_day_within_reach(store: HistoryStore) -> None:
    for offset, score in ((0, 10.0), (3, 20.0), (10, 30.0)):
        store.save_snapshots("r", DAY + timedelta(days=offset), _table([score], [1.0]), ["logins"])
    points = [
        ("0010", DAY + timedelta(days=5)),  # day 3
        ("0010", DAY + timedelta(days=3)),  # day 3 again: read once
        ("0010", DAY + timedelta(days=20)),  # day 10 is 10 days back: out of reach
        ("0010", DAY - timedelta(days=1)),  # nothing before
        *[(f"x{n}", DAY) for n in range(250)],  # no such accounts, past one statement
        ("0010", DAY + timedelta(days=10)),
    ]

    found = store.latest_snapshots(pl.DataFrame(points, schema=POINTS, orient="row"), 7)

    assert found.select("account_id", "snapshot_date", "health_score", "logins").rows() == [
        ("0010", DAY + timedelta(days=3), 20.0, 1.0),
        ("0010", DAY + timedelta(days=10), 30.0, 1.0),
    ]
    assert store.latest_snapshots(pl.DataFrame(schema=POINTS), within_days=7).height == 0


def test_run_records_keep_status_and_summary(store: HistoryStore) -> None:
    started = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    store.run_started(RunRecord("r1", started, DAY, dry_run=False))
    store.run_finished("r1", "ok", datetime(2026, 11, 23, 6, 1, tzinfo=UTC), {"tasks_created": 3})
    (run,) = store.runs()
    assert (run["run_id"], run["status"], run["summary"]) == ("r1", "ok", {"tasks_created": 3})
    assert run["as_of"] == DAY


def test_the_last_summary_is_the_latest_run_that_recorded_one(store: HistoryStore) -> None:
    assert store.last_summary() is None
    for number, summary in ((1, {"crm_read_calls": 57}), (2, {"crm_read_calls": 61})):
        started = datetime(2026, 11, 20 + number, 6, 0, tzinfo=UTC)
        store.run_started(RunRecord(f"r{number}", started, DAY, dry_run=False))
        store.run_finished(f"r{number}", "ok", started + timedelta(minutes=1), summary)
    later = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    store.run_started(RunRecord("r3", later, DAY, dry_run=False))  # still running

    assert store.last_summary() == {"crm_read_calls": 61}


def test_empty_history_is_an_empty_frame(store: HistoryStore) -> None:
    history = store.snapshots(since=DAY, until=date(2026, 12, 1))
    assert history.height == 0
    assert "health_score" in history.columns


def test_task_ledger_records_intent_then_the_created_id(store: HistoryStore) -> None:
    store.tasks_creating(["r:a:1", "r:b:2", "r:c:3"])
    store.tasks_created({"r:a:1": "901"})
    store.tasks_forget(["r:c:3"])

    known = store.ledger_tasks(["r:a:1", "r:b:2", "r:c:3", "r:d:4"])

    assert known == {
        "r:a:1": LedgerTask("r:a:1", "created", "901"),
        "r:b:2": LedgerTask("r:b:2", "creating", None),
    }


def test_recording_intent_again_replaces_an_earlier_unknown_outcome(store: HistoryStore) -> None:
    store.tasks_creating(["r:a:1"])
    store.tasks_creating(["r:a:1"])
    assert store.ledger_tasks(["r:a:1"]) == {"r:a:1": LedgerTask("r:a:1", "creating", None)}


def test_a_batch_of_intents_is_one_statement_whatever_its_size(store: HistoryStore) -> None:
    """A batch create's intent and its answer are written on the thread that sends the
    batches: a statement per key (200 a batch) held every batch create back."""
    keys = [f"r:{i}:1" for i in range(100)]
    sent: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "task_ledger" in statement:
            sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        store.tasks_creating(keys)
        store.tasks_created({key: str(900 + i) for i, key in enumerate(keys[:60])})
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)

    assert len(sent) == 2
    known = store.ledger_tasks(keys)
    assert [known[k].status for k in keys].count("created") == 60
    assert known["r:0:1"] == LedgerTask("r:0:1", "created", "900")
    assert known["r:99:1"] == LedgerTask("r:99:1", "creating", None)


def test_a_message_intent_is_dated_in_utc(store: HistoryStore) -> None:
    before = datetime.now(UTC)
    store.message_sending("slack-digest:2026-W48:1", "slack")
    recorded = store.messages_recorded_at(["slack-digest:2026-W48:1", "never"])
    assert list(recorded) == ["slack-digest:2026-W48:1"]
    assert before <= recorded["slack-digest:2026-W48:1"] <= datetime.now(UTC)  # aware, UTC


def test_snapshots_keep_the_model_version_and_raw_inputs_as_json(store: HistoryStore) -> None:
    table = _table([40.0], [float("nan")]).with_columns(
        health_model_version=pl.lit("abc123"), start=pl.lit(date(2024, 6, 1))
    )
    store.save_snapshots("r", DAY, table, [], inputs=["logins", "start"])

    history = store.snapshots(since=DAY, until=date(2026, 11, 24))

    assert history["model_version"].to_list() == ["abc123"]
    assert json.loads(history["inputs"][0]) == {"logins": None, "start": "2024-06-01"}  # NaN: null


def test_stage_history_keeps_entries_and_replaces_pending_moves(store: HistoryStore) -> None:
    def states(*rows: tuple[str, str, date, str | None, date | None, bool]) -> pl.DataFrame:
        return pl.DataFrame(
            [("0010", "journey_stage", *row) for row in rows],
            schema=[
                "account_id",
                "track",
                "stage",
                "entered_on",
                "pending_stage",
                "pending_since",
                "changed",
            ],
            orient="row",
        )

    later = date(2026, 12, 1)
    assert store.save_stages("r1", states(("Value", DAY, None, None, True))) == 1
    assert store.save_stages("r2", states(("Value", DAY, "Adoption", later, False))) == 0
    store.save_stages("r3", states(("Adoption", later, None, None, True)))

    assert store.stages().rows() == [("0010", "journey_stage", "Adoption", later, None, None)]
    store.save_stages("r4", states(("Adoption", later, "Onboarding", later, False)))
    assert store.stages().rows() == [
        ("0010", "journey_stage", "Adoption", later, "Onboarding", later)
    ]


def test_stage_entries_are_made_a_batch_at_a_time_as_they_are_written(
    store: HistoryStore,
) -> None:
    """A first run enters every account on each track (200,000 entries at 100,000
    accounts): made all at once as rows they were ~50 MB beside the record phase's peak."""
    accounts = 50_000
    states = pl.DataFrame(
        {
            "account_id": [f"001{n:015d}" for n in range(accounts)],
            "track": "journey_stage",
            "stage": "Onboarding",
            "entered_on": DAY,
            "pending_stage": "Adoption",
            "pending_since": DAY,
            "changed": True,
        }
    )
    tracemalloc.start()
    try:
        rows = states.drop("changed").rows(named=True)  # what a list of them holds
        as_a_list = tracemalloc.get_traced_memory()[0]
        del rows
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        written = store.save_stages("r1", states)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()

    assert written == accounts
    assert store.stages().height == accounts
    assert peak < as_a_list / 3


def test_a_backfilled_day_adds_stage_entries_and_leaves_todays_pending_move(
    store: HistoryStore,
) -> None:
    columns = ["account_id", "track", "stage", "entered_on", "pending_stage", "pending_since"]
    today = pl.DataFrame(
        [("0010", "journey_stage", "Value", DAY, "Adoption", DAY, True)],
        schema=[*columns, "changed"],
        orient="row",
    )
    store.save_stages("run", today)
    earlier = date(2025, 6, 1)
    backfilled = pl.DataFrame(
        [
            ("0010", "journey_stage", "Onboarding", earlier, "Value", earlier, True),
            ("0011", "journey_stage", "Onboarding", earlier, None, None, False),
        ],
        schema=[*columns, "changed"],
        orient="row",
    )

    assert store.save_stage_entries("backfill-20250601", backfilled) == 1
    assert store.save_stage_entries("backfill-20250601", backfilled) == 1  # upserted

    assert store.stage_entries().rows() == [
        ("0010", "journey_stage", "Onboarding", earlier),
        ("0010", "journey_stage", "Value", DAY),
    ]
    assert store.stages().rows() == [("0010", "journey_stage", "Value", DAY, "Adoption", DAY)]


def test_lifetime_usage_totals_are_upserted_per_tenant(store: HistoryStore) -> None:
    week = date(2026, 11, 16)
    first = pl.DataFrame(
        [("t1", week, '{"logins":12.0}'), ("t2", week, '{"logins":0.0}')],
        schema=["account_key", "through_week", "totals"],
        orient="row",
    )
    assert store.save_usage_totals(first) == 2
    moved = pl.DataFrame(
        [("t1", week + timedelta(weeks=1), '{"logins":20.5}')],
        schema=["account_key", "through_week", "totals"],
        orient="row",
    )
    store.save_usage_totals(moved)

    kept = {
        key: (through, json.loads(totals)) for key, through, totals in store.usage_totals().rows()
    }
    assert kept == {
        "t1": (week + timedelta(weeks=1), {"logins": 20.5}),
        "t2": (week, {"logins": 0.0}),
    }


def _deals(amount: float, won: bool) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "deal_id": ["006A", "006B"],
            "account_id": ["001A", "001B"],
            "kind": ["renewal", "expansion"],
            "type": ["Renewal", "Expansion"],
            "amount": [amount, 500.0],
            "close_date": [DAY, date(2026, 10, 1)],
            "won": [won, True],
            "currency": [None, "JPY"],
            "term_months": [None, 24.0],
        },
        schema=CLOSED_DEAL_SCHEMA,
    )


def test_closed_deals_are_upserted_by_crm_id(store: HistoryStore) -> None:
    assert store.save_closed_deals("run1", _deals(1000.0, won=True)) == 2
    assert store.save_closed_deals("run2", _deals(1000.0, won=True)) == 0  # as stored
    assert store.save_closed_deals("run3", _deals(900.0, won=False)) == 1  # 006A changed

    deals = store.closed_deals()

    assert deals.schema == pl.Schema(CLOSED_DEAL_SCHEMA)
    assert deals.rows() == [
        ("006B", "001B", "expansion", "Expansion", 500.0, date(2026, 10, 1), True, "JPY", 24.0),
        ("006A", "001A", "renewal", "Renewal", 900.0, DAY, False, None, None),
    ]


def test_closed_deal_changes_found_early_are_written_as_a_full_diff_would(
    store: HistoryStore,
) -> None:
    """A run finds the changes once it has read and writes only them when it records."""
    store.save_closed_deals("run1", _deals(1000.0, won=True))
    stored = store.closed_deal_digests()

    unchanged = closed_deal_changes(_deals(1000.0, won=True), stored)
    changes = closed_deal_changes(_deals(900.0, won=False), stored)

    assert unchanged.is_empty()
    assert changes["deal_id"].to_list() == ["006A"]
    assert store.save_closed_deal_changes("run2", changes) == 1
    assert store.closed_deals().sort("deal_id")["amount"].to_list() == [900.0, 500.0]


def test_closed_deals_of_one_kind(store: HistoryStore) -> None:
    store.save_closed_deals("run1", _deals(1000.0, won=True))

    renewals = store.closed_deals(kind="renewal")

    assert renewals.schema == pl.Schema(CLOSED_DEAL_SCHEMA)
    assert renewals["deal_id"].to_list() == ["006A"]
    assert store.closed_deals(kind="new_business").is_empty()


def _outcomes(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=TASK_OUTCOME_SCHEMA, orient="row")


def test_task_outcomes_are_upserted_by_key_and_keep_what_a_later_read_lacks(
    store: HistoryStore,
) -> None:
    created = date(2026, 11, 2)
    store.save_task_outcomes(
        "run1",
        _outcomes(
            ("r:001A:aa", "r", "001A", None, "005A", created, False, None),
            ("r:001B:bb", "r", "001B", None, "005B", created, False, None),
        ),
    )
    # the next read: A completed (its record id now known), B still open, no owner given
    written = store.save_task_outcomes(
        "run2",
        _outcomes(
            ("r:001A:aa", "r", "001A", "00TA", None, DAY, True, DAY),
            ("r:001B:bb", "r", "001B", "00TB", None, DAY, False, None),
        ),
    )

    outcomes = store.task_outcomes()

    assert written == 2
    assert outcomes.schema == pl.Schema(TASK_OUTCOME_SCHEMA)
    assert outcomes.rows() == [
        ("r:001A:aa", "r", "001A", "00TA", "005A", created, True, DAY),
        ("r:001B:bb", "r", "001B", "00TB", "005B", created, False, None),
    ]
    assert store.open_task_keys() == ["r:001B:bb"]


def test_a_task_deleted_in_the_crm_is_forgotten(store: HistoryStore) -> None:
    store.save_task_outcomes(
        "run1",
        _outcomes(
            ("r:A:a", "r", "A", "1", "o", DAY, False, None),
            ("r:B:b", "r", "B", "2", "o", DAY, False, None),
        ),
    )

    store.forget_task_outcomes(["r:A:a"])

    assert store.task_outcomes()["key"].to_list() == ["r:B:b"]
    assert store.open_task_keys() == ["r:B:b"]


def test_a_task_reopened_in_the_crm_is_open_again(store: HistoryStore) -> None:
    store.save_task_outcomes("run1", _outcomes(("r:A:a", "r", "A", "1", "o", DAY, True, DAY)))
    store.save_task_outcomes("run2", _outcomes(("r:A:a", "r", "A", "1", "o", DAY, False, None)))

    assert store.task_outcomes()["completed_on"].to_list() == [None]
    assert store.open_task_keys() == ["r:A:a"]


def test_every_stage_entry_reads_back_for_the_cohorts(store: HistoryStore) -> None:
    states = pl.DataFrame(
        {
            "account_id": ["a", "a"],
            "track": ["journey_stage", "journey_stage"],
            "stage": ["Onboarding", "Adoption"],
            "entered_on": [date(2026, 1, 1), DAY],
            "changed": [True, True],
            "pending_stage": [None, None],
            "pending_since": [None, None],
        },
        schema_overrides={"pending_stage": pl.String, "pending_since": pl.Date},
    )
    store.save_stages("run1", states)

    assert store.stage_entries().rows() == [
        ("a", "journey_stage", "Onboarding", date(2026, 1, 1)),
        ("a", "journey_stage", "Adoption", DAY),
    ]


def test_a_days_snapshots_are_made_and_compared_a_chunk_of_accounts_at_a_time(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day's rows (their measures and inputs as JSON) are built, compared and written
    `SNAPSHOT_CHUNK` accounts at a time, not for the whole book at once: the same rows are
    stored, and a same-day rerun still writes only the accounts that changed."""
    made: list[int] = []

    def noting(table: pl.DataFrame, *args: Any) -> pl.DataFrame:
        made.append(table.height)
        return snapshot_rows(table, *args)

    monkeypatch.setattr("connector.store.history.SNAPSHOT_CHUNK", 2)
    monkeypatch.setattr("connector.store.history.snapshot_rows", noting)
    table = _table([10.0, 20.0, 30.0, 40.0, 50.0], [1.0, 2.0, None, 4.0, 5.0])

    assert store.save_snapshots("run1", DAY, table, ["logins"]) == 5
    changed = table.with_columns(pl.Series("logins", [1.0, 2.0, None, 4.0, 6.0]))
    assert store.save_snapshots("run2", DAY, changed, ["logins"]) == 1

    assert made == [2, 2, 1, 2, 2, 1]
    saved = store.snapshots(DAY, DAY + timedelta(days=1)).sort("account_id")
    assert saved["logins"].to_list() == [1.0, 2.0, None, 4.0, 6.0]
    assert saved["health_score"].to_list() == [10.0, 20.0, 30.0, 40.0, 50.0]


def test_snapshots_of_more_accounts_than_a_batch_are_all_written(store: HistoryStore) -> None:
    accounts = SNAPSHOT_BATCH * 2 + 1  # written a batch at a time: two full and one row
    table = pl.DataFrame(
        {
            "id": [f"001{n:06}" for n in range(accounts)],
            "health_score": [float(n % 100) for n in range(accounts)],
            "health_color": ["green"] * accounts,
            "logins": [float(n) for n in range(accounts)],
        }
    )
    assert store.save_snapshots("run1", DAY, table, ["logins"]) == accounts
    saved = store.snapshots(DAY, DAY + timedelta(days=1))
    assert saved.height == accounts
    assert saved["logins"].to_list() == [float(n) for n in range(accounts)]
    assert saved["account_id"][-1] == f"001{accounts - 1:06}"
