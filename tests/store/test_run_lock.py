"""One real run at a time per store, on SQLite and PostgreSQL; a crashed run's lock is freed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, insert, select

from connector.errors import RunLocked
from connector.store import HistoryStore
from connector.store.lock import advisory_key
from connector.store.tables import run_locks

STALE = timedelta(minutes=30)


def test_second_holder_is_refused_until_the_first_releases(store: HistoryStore) -> None:
    with (
        store.run_lock("run-a", stale_after=STALE),
        pytest.raises(RunLocked, match="held by run run-a"),
        store.run_lock("run-b", stale_after=STALE),
    ):
        pass
    with store.run_lock("run-b", stale_after=STALE):
        pass


def test_a_lock_left_by_a_crashed_run_is_taken_over(store: HistoryStore) -> None:
    if store.dialect == "postgresql":
        pytest.skip("PostgreSQL frees an advisory lock when the holder's session dies")
    with store.engine.begin() as db:
        db.execute(
            insert(run_locks).values(
                name="sync", holder="crashed", acquired_at=datetime.now(UTC) - STALE * 2
            )
        )
    with store.run_lock("run-b", stale_after=STALE):
        pass


def test_a_fresh_lock_is_not_taken_over(store: HistoryStore) -> None:
    if store.dialect == "postgresql":
        pytest.skip("PostgreSQL frees an advisory lock when the holder's session dies")
    with store.engine.begin() as db:
        db.execute(
            insert(run_locks).values(
                name="sync", holder="busy", acquired_at=datetime.now(UTC) - STALE / 2
            )
        )
    with (
        pytest.raises(RunLocked, match="held by run busy"),
        store.run_lock("run-b", stale_after=STALE),
    ):
        pass


def test_postgres_frees_the_lock_when_the_holder_dies(store: HistoryStore) -> None:
    if store.dialect != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    other_process = create_engine(store.engine.url)
    session = other_process.connect()
    assert session.execute(select(func.pg_try_advisory_lock(advisory_key("sync")))).scalar()
    with pytest.raises(RunLocked), store.run_lock("run-b", stale_after=STALE):
        pass
    session.invalidate()  # the holder dies: its connection is gone, so is the lock
    other_process.dispose()
    assert _acquired_within(store, seconds=10)


def _acquired_within(store: HistoryStore, seconds: float) -> bool:
    """The server notices a dead connection a moment later, not at once."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with store.run_lock("run-b", stale_after=STALE):
                return True
        except RunLocked:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
