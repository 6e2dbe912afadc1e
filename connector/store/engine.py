"""How the worker opens its store's database.

A run reads and writes its store from several threads at once: the CRM mirrors and the
usage weeks are saved while the record phase's diffs are read beside them. PostgreSQL lets
them; SQLite's default rollback journal does not: a writer waits for every reader to finish
and gives up after five seconds with "database is locked". In write-ahead-log mode a read
never blocks the one writer nor waits for it, and writers queue for up to a minute.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

WRITE_WAIT_SECONDS = 60.0  # how long a SQLite write waits for another thread's or run's


def store_engine(url: str | URL, *, wait_seconds: float = WRITE_WAIT_SECONDS) -> Engine:
    """An engine for the store at `url`; on SQLite in write-ahead-log mode, whose writes
    wait up to `wait_seconds` for one another."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, future=True)
    engine = create_engine(url, future=True, connect_args={"timeout": wait_seconds})
    event.listen(engine, "connect", _write_ahead_log)
    return engine


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """The mode is kept in the file: the first connection switches it, the others find it
    (an in-memory database keeps its own, and needs none)."""
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
