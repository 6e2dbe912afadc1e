"""Diff before write in the store: a rerun that learnt nothing writes nothing, a changed row
is written alone (its run_id then names that run), and the store ends as writing every row
each time would have left it."""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Table, event, select

from connector.store import CLOSED_DEAL_SCHEMA, TASK_OUTCOME_SCHEMA, HistoryStore, history, read
from connector.store.diff import changed_digests, changed_rows, row_digests
from connector.store.history import closed_deal_changes
from connector.store.tables import account_snapshots, closed_deals, task_outcomes
from connector.store.upsert import upsert
from tests.databases import fresh_database

DAY = date(2026, 11, 23)
WRITES = ("INSERT", "UPDATE")
TABLES = ("account_snapshots", "closed_deals", "task_outcomes")
NAN = float("nan")


def _snapshot_table(scores: Sequence[float], logins: Sequence[float | None]) -> pl.DataFrame:
    accounts = len(scores)
    return pl.DataFrame(
        {
            "id": [f"001{n}" for n in range(accounts)],
            "health_score": pl.Series(scores, dtype=pl.Float64),
            "health_color": ["Red" if s < 50 else "Green" for s in scores],
            "health_model_version": ["v1"] * accounts,
            "logins": pl.Series(logins, dtype=pl.Float64),
            "seats": list(range(accounts)),
            "start": [date(2024, 6, 1)] * accounts,
        }
    )


def _deals(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CLOSED_DEAL_SCHEMA, orient="row")


def _outcomes(*rows: tuple[object, ...]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=TASK_OUTCOME_SCHEMA, orient="row")


DEAL_A = ("006A", "001A", "renewal", "Renewal", 1000.0, DAY, True, "JPY", 12.0)
DEAL_B = ("006B", "001B", "expansion", None, NAN, DAY, False, None, None)
TASK_A = ("r:001A:a", "r", "001A", None, "005A", DAY, False, None)
TASK_B = ("r:001B:b", "r", "001B", "00TB", "005B", DAY, False, None)

# each step: (run id, snapshots of a day or None, closed deals, task outcomes)
STEPS: list[tuple[str, tuple[date, pl.DataFrame] | None, pl.DataFrame, pl.DataFrame]] = [
    (
        "run1",
        (DAY, _snapshot_table([10.0, NAN, 80.0], [1.0, NAN, None])),
        _deals(DEAL_A, DEAL_B),
        _outcomes(TASK_A, TASK_B),
    ),
    (  # the same again: nothing to write
        "run2",
        (DAY, _snapshot_table([10.0, NAN, 80.0], [1.0, NAN, None])),
        _deals(DEAL_A, DEAL_B),
        _outcomes(TASK_A, TASK_B),
    ),
    (  # one score, one deal, one task changed; a record id learnt; the owner not given
        "run3",
        (DAY, _snapshot_table([10.0, NAN, 85.0], [1.0, NAN, None])),
        _deals(DEAL_A, (*DEAL_B[:4], 300.0, *DEAL_B[5:])),
        _outcomes(
            ("r:001A:a", "r", "001A", "00TA", None, DAY + timedelta(days=1), False, None),
            ("r:001B:b", "r", "001B", None, None, DAY, True, DAY),
        ),
    ),
    (  # the next day; a new deal and task; a task reopened
        "run4",
        (DAY + timedelta(days=1), _snapshot_table([11.0, 50.0, 85.0], [2.0, 3.0, 4.0])),
        _deals(DEAL_A, (*DEAL_B[:4], 300.0, *DEAL_B[5:]), ("006C", *DEAL_A[1:])),
        _outcomes(TASK_A, TASK_B, ("r:001C:c", "r", "001C", None, None, DAY, False, None)),
    ),
]
WRITTEN = [  # (snapshots, deals, task outcomes) each step writes
    (3, 2, 2),
    (0, 0, 0),
    (1, 1, 2),
    (3, 1, 2),
]


@contextmanager
def _writes(store: HistoryStore) -> Iterator[list[str]]:
    """The INSERT and UPDATE statements sent for the diffed tables while inside."""
    sent: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(WRITES) and any(t in statement for t in TABLES):
            sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", listen)
    try:
        yield sent
    finally:
        event.remove(store.engine, "before_cursor_execute", listen)


def _save(store: HistoryStore, step: int) -> tuple[int, int, int]:
    run_id, day, deals, outcomes = STEPS[step]
    snapshots = 0
    if day is not None:
        snapshots = store.save_snapshots(run_id, day[0], day[1], ["logins", "seats"], ["start"])
    return (
        snapshots,
        store.save_closed_deals(run_id, deals),
        store.save_task_outcomes(run_id, outcomes),
    )


def _save_every_row(store: HistoryStore, step: int) -> None:
    """What the store did before it diffed: every row upserted, its JSON built per row."""
    run_id, day, deals, outcomes = STEPS[step]
    with store.engine.begin() as db:
        if day is not None:
            snapshots = [
                {
                    "account_id": row["id"],
                    "snapshot_date": day[0],
                    "run_id": run_id,
                    "health_score": row["health_score"],
                    "health_color": row["health_color"],
                    "measures": {n: _json(row[n]) for n in ("logins", "seats")},
                    "model_version": row["health_model_version"],
                    "inputs": {"start": _json(row["start"])},
                }
                for row in day[1].iter_rows(named=True)
            ]
            changed = ["run_id", "health_score", "health_color", "measures"]
            upsert(
                db,
                account_snapshots,
                snapshots,
                ["account_id", "snapshot_date"],
                [*changed, "model_version", "inputs"],
            )
        rows = [{**r, "run_id": run_id} for r in deals.iter_rows(named=True)]
        upsert(db, closed_deals, rows, ["deal_id"], [*CLOSED_DEAL_SCHEMA, "run_id"][1:])
        rows = [{**r, "run_id": run_id} for r in outcomes.iter_rows(named=True)]
        upsert(
            db,
            task_outcomes,
            rows,
            ["key"],
            ["closed", "completed_on", "run_id"],
            keep_known=["record_id", "owner_id"],
        )


def _json(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return None if isinstance(value, float) and math.isnan(value) else value


def _contents(store: HistoryStore, table: Table) -> list[tuple[Any, ...]]:
    """Every row but its run_id, JSON parsed, NaN as text (NaN is never equal to itself)."""
    columns = [c for c in table.columns if c.name != "run_id"]
    with store.engine.connect() as db:
        rows = db.execute(select(*columns)).all()
    return sorted(tuple(_comparable(v) for v in row) for row in rows)


def _comparable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else value


def _run_ids(store: HistoryStore, table: Table, key: str) -> dict[Any, str]:
    with store.engine.connect() as db:
        return dict(db.execute(select(table.c[key], table.c.run_id)).all())


def test_an_unchanged_rerun_sends_no_insert_or_update(store: HistoryStore) -> None:
    _save(store, 0)
    with _writes(store) as sent:
        written = _save(store, 1)
    assert written == (0, 0, 0)
    assert sent == []


def test_only_the_changed_rows_are_written_and_carry_the_run_that_changed_them(
    store: HistoryStore,
) -> None:
    _save(store, 0)
    _save(store, 1)
    with _writes(store) as sent:
        written = _save(store, 2)

    assert written == WRITTEN[2]
    assert len(sent) == 3  # one batch a table
    snapshots = _run_ids(store, account_snapshots, "account_id")
    assert snapshots == {"0010": "run1", "0011": "run1", "0012": "run3"}
    assert _run_ids(store, closed_deals, "deal_id") == {"006A": "run1", "006B": "run3"}
    assert _run_ids(store, task_outcomes, "key") == {"r:001A:a": "run3", "r:001B:b": "run3"}


def test_a_diff_against_the_rows_read_before_the_run_writes_the_same(
    store: HistoryStore,
) -> None:
    """A run reads the store's day's snapshots and closed deals (as digests) and followed
    tasks beside its CRM reads and diffs against them (`run._Recorded`): the same rows are
    written."""
    for step, (run_id, day, deals, outcomes) in enumerate(STEPS):
        assert day is not None
        stored_snapshots = store.snapshot_digests(day[0])
        stored_deals, stored_tasks = store.closed_deal_digests(), store.followed_tasks()
        written = (
            store.save_snapshots(
                run_id, day[0], day[1], ["logins", "seats"], ["start"], stored_snapshots
            ),
            store.save_closed_deal_changes(run_id, closed_deal_changes(deals, stored_deals)),
            store.save_task_outcomes(run_id, outcomes, stored_tasks),
        )
        assert written == WRITTEN[step]
    assert _run_ids(store, closed_deals, "deal_id") == {
        "006A": "run1",
        "006B": "run3",
        "006C": "run4",
    }


def test_a_read_lacking_what_the_store_knows_writes_nothing(store: HistoryStore) -> None:
    """keep_known: a null record id or owner keeps the stored one, so it is no change; nor
    is a later creation day, which the upsert never changes."""
    _save(store, 0)
    again = _outcomes(
        (*TASK_A[:3], None, None, DAY + timedelta(days=3), *TASK_A[6:]),
        (*TASK_B[:3], None, "005B", DAY, *TASK_B[6:]),
    )
    assert store.save_task_outcomes("run2", again) == 0


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_store_ends_as_writing_every_row_would_leave_it(kind: str, tmp_path: Any) -> None:
    with (
        fresh_database(kind, tmp_path) as diffed_url,
        fresh_database(kind, tmp_path) as every_url,
    ):
        diffed, every = HistoryStore.open(diffed_url), HistoryStore.open(every_url)
        try:
            written = []
            for step in range(len(STEPS)):
                written.append(_save(diffed, step))
                _save_every_row(every, step)
            for table in (account_snapshots, closed_deals, task_outcomes):
                assert _contents(diffed, table) == _contents(every, table), table.name
            assert written == WRITTEN
            assert _readback(diffed).equals(_readback(every))
        finally:
            diffed.close()
            every.close()


def _readback(store: HistoryStore) -> pl.DataFrame:
    """What the readers get: the snapshots frame, its inputs' JSON text decoded (the text
    is as stored: compact from the diffed saves, spaced from `json.dumps`)."""
    return store.snapshots(DAY, DAY + timedelta(days=2)).with_columns(
        pl.col(pl.Float64).fill_nan(-1),
        pl.col("inputs").str.json_decode(pl.Struct({"start": pl.String})),
    )


def test_measures_are_stored_as_the_json_readers_parse(store: HistoryStore) -> None:
    table = _snapshot_table([40.0], [NAN])
    store.save_snapshots("r", DAY, table, ["logins", "seats"], inputs=["start"])

    with store.engine.connect() as db:
        measures, inputs = db.execute(
            select(account_snapshots.c.measures, account_snapshots.c.inputs)
        ).one()

    assert (measures, inputs) == ({"logins": None, "seats": 0}, {"start": "2024-06-01"})


def test_a_snapshot_without_a_model_version_keeps_json_null_inputs(store: HistoryStore) -> None:
    table = _snapshot_table([40.0], [1.0]).drop("health_model_version")
    store.save_snapshots("r", DAY, table, ["logins"], inputs=["start"])
    assert store.save_snapshots("r2", DAY, table, ["logins"], inputs=["start"]) == 0

    history = store.snapshots(DAY, DAY + timedelta(days=1))

    assert history.select("model_version", "inputs", "logins").rows() == [(None, None, 1.0)]


def test_a_table_read_in_chunks_is_the_table(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows become a frame a chunk at a time (nulls and NaN in some chunks, not others),
    and no row is a typed empty frame."""
    assert store.closed_deals().schema == pl.Schema(CLOSED_DEAL_SCHEMA)
    rows = [(f"006{n}", *(DEAL_B if n % 3 else DEAL_A)[1:]) for n in range(7)]
    store.save_closed_deals("run1", _deals(*rows))
    whole = store.closed_deals()

    monkeypatch.setattr(read, "READ_CHUNK", 2)
    chunked = store.closed_deals()

    assert chunked.height == 7
    assert_frame_equal(chunked, whole)


def test_stored_rows_compared_a_chunk_at_a_time_give_the_whole_diff() -> None:
    """Each chunk is compared and dropped: a key the store holds is unchanged in the chunk
    that has it, whatever the other chunks hold; NaN and null stay equal."""
    new = pl.DataFrame({"k": ["a", "b", "c", "d", "e"], "v": [1.0, 2.0, 3.0, None, NAN]})
    stored = pl.DataFrame({"k": ["e", "d", "c", "a"], "v": [None, NAN, 30.0, 1.0]})

    whole = changed_rows(new, stored, ["k"], ["v"])
    chunked = changed_rows(new, (stored[n : n + 1] for n in range(4)), ["k"], ["v"])

    assert whole["k"].to_list() == ["b", "c"]
    assert_frame_equal(chunked, whole)
    assert changed_rows(new, iter([]), ["k"], ["v"])["k"].to_list() == list("abcde")


def test_digests_of_the_stored_rows_give_the_diff_the_rows_give() -> None:
    """What a run keeps of the day's stored snapshots: the same rows changed as against
    the rows themselves, chunked or not, with nulls, NaN and more than one column."""
    rng = np.random.default_rng(5)
    values = rng.choice([1.0, 2.0, NAN, -0.5], size=(400, 2)).tolist()
    texts = rng.choice(["x", "y", "z"], 400).tolist()
    new = pl.DataFrame(
        {
            "k": [f"k{n}" for n in range(400)],
            "v": [row[0] if n % 7 else None for n, row in enumerate(values)],
            "w": [row[1] for row in values],
            "t": [text if n % 5 else None for n, text in enumerate(texts)],
        }
    )
    stored = new.sample(300, seed=1).with_columns(
        pl.when(pl.int_range(300) % 4 == 0).then(pl.col("w") + 1).otherwise("w").alias("w"),
        pl.when(pl.int_range(300) % 9 == 0).then(pl.lit("changed")).otherwise("t").alias("t"),
    )
    expected = changed_rows(new, stored, ["k"], ["v", "w", "t"])

    chunks = (stored[n : n + 64] for n in range(0, 300, 64))
    digests = row_digests(chunks, stored.schema, ["k"], ["v", "w", "t"])

    assert 100 < expected.height < 250
    assert_frame_equal(changed_digests(new, digests, ["k"], ["v", "w", "t"]), expected)
    nothing = row_digests([], stored.schema, ["k"], ["v", "w", "t"])
    assert_frame_equal(changed_digests(new, nothing, ["k"], ["v", "w", "t"]), new)


def test_the_stored_rows_are_digested_a_chunk_at_a_time() -> None:
    """A chunk is let go of before the next is read: the day's 100,000 snapshots were
    ~90 MB held at once where a same-day rerun's reads end."""
    stored = pl.DataFrame({"k": [f"k{n}" for n in range(300)], "v": [float(n) for n in range(300)]})
    alive: list[int] = []
    held: list[weakref.ref[pl.DataFrame]] = []

    def chunks() -> Iterator[pl.DataFrame]:
        for n in range(0, 300, 64):
            alive.append(sum(chunk() is not None for chunk in held))
            chunk = stored[n : n + 64]
            held.append(weakref.ref(chunk))
            yield chunk
            del chunk

    digests = row_digests(chunks(), stored.schema, ["k"], ["v"])

    assert digests.height == 300
    assert max(alive) <= 1  # the one digested last, until the next is read


def test_the_store_diffs_against_its_rows_a_chunk_at_a_time(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "DIFF_CHUNK", 1)
    assert [_save(store, step) for step in range(len(STEPS))] == WRITTEN
