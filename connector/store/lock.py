"""The run lock: one sync at a time per store, however many replicas or CronJobs start."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from connector.errors import RunLocked
from connector.store.tables import run_locks


@contextmanager
def run_lock(
    engine: Engine, holder: str, *, stale_after: timedelta, name: str = "sync"
) -> Iterator[None]:
    """Hold the lock named `name` for the duration of the block, or raise `RunLocked`."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, holder, name):
            yield
        return
    _take_row(engine, holder, name, stale_after)
    try:
        yield
    finally:
        with engine.begin() as db:
            db.execute(
                delete(run_locks).where(run_locks.c.name == name, run_locks.c.holder == holder)
            )


def advisory_key(name: str) -> int:
    """The 64-bit advisory lock id for `name`, stable across processes and versions."""
    digest = hashlib.sha256(f"cs-connector:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _advisory_lock(engine: Engine, holder: str, name: str) -> Iterator[None]:
    """A session-level advisory lock: released by PostgreSQL itself if the process dies."""
    key = advisory_key(name)
    with engine.connect() as session:
        if not session.execute(select(func.pg_try_advisory_lock(key))).scalar():
            raise RunLocked(
                f"another run holds the '{name}' lock ({_describe(session, name)}); "
                "this one did nothing."
            )
        try:
            _record_holder(session, holder, name)
            yield
        finally:
            session.execute(delete(run_locks).where(run_locks.c.name == name))
            session.commit()
            session.execute(select(func.pg_advisory_unlock(key)))
            session.commit()


def _take_row(engine: Engine, holder: str, name: str, stale_after: timedelta) -> None:
    now = datetime.now(UTC)
    with engine.begin() as db:
        try:
            db.execute(insert(run_locks).values(name=name, holder=holder, acquired_at=now))
            return
        except IntegrityError:
            pass
    with engine.begin() as db:
        taken = db.execute(
            update(run_locks)
            .where(run_locks.c.name == name, run_locks.c.acquired_at < now - stale_after)
            .values(holder=holder, acquired_at=now)
        ).rowcount
        if not taken:
            raise RunLocked(
                f"another run holds the '{name}' lock ({_describe(db, name)}); "
                "this one did nothing."
            )


def _record_holder(session: Connection, holder: str, name: str) -> None:
    session.execute(delete(run_locks).where(run_locks.c.name == name))
    session.execute(
        insert(run_locks).values(name=name, holder=holder, acquired_at=datetime.now(UTC))
    )
    session.commit()


def _describe(db: Connection, name: str) -> str:
    row = db.execute(select(run_locks).where(run_locks.c.name == name)).first()
    if row is None:
        return "holder unknown"
    return f"held by run {row.holder} since {row.acquired_at:%Y-%m-%d %H:%M:%S}"
