"""One way to write rows into a store table: the dialect's INSERT … ON CONFLICT DO UPDATE,
executed a batch of rows at a time, so each save says only its table, its key and what a
conflict changes — and a run re-recording a day replaces rows, never duplicates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import JSON, Connection, Executable, String, Table, bindparam, cast, func
from sqlalchemy.dialects import postgresql, sqlite

JSON_TEXT = "_json"  # suffix of a row's key holding a JSON column's value encoded already

BATCH = 5_000  # rows per execute: 100,000 accounts' rows at once were 250 MB


def upsert(
    db: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    keys: Sequence[str],
    update: Iterable[str],
    *,
    keep_known: Iterable[str] = (),
    json_text: Iterable[str] = (),
) -> int:
    """Insert `rows`; a row whose `keys` exist takes the new `update` columns, and the new
    `keep_known` columns unless they are null (then the stored value stays). Returns the
    rows written; `rows` may be a generator, read one batch at a time. A `json_text`
    column comes as JSON text under its name + `JSON_TEXT` and is stored as it is."""
    insert = dialect_insert(db, table)
    if texts := {name: _json_text(db, name) for name in json_text}:
        insert = insert.values(texts)
    changes: dict[str, Any] = {name: insert.excluded[name] for name in update}
    changes |= {name: func.coalesce(insert.excluded[name], table.c[name]) for name in keep_known}
    return execute_batched(
        db, insert.on_conflict_do_update(index_elements=list(keys), set_=changes), rows
    )


def dialect_insert(db: Connection, table: Table) -> Any:
    """The dialect's INSERT, which can yield to or update a row saved meanwhile (ON CONFLICT)."""
    return (postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert)(table)


def _json_text(db: Connection, name: str) -> Any:
    """A JSON column's value bound as the text it is (SQLite keeps JSON as text; PostgreSQL
    is told it is JSON), so the encoding done columnar is not done again per row."""
    text = bindparam(name + JSON_TEXT, type_=String)
    return cast(text, JSON) if db.dialect.name == "postgresql" else text


def execute_batched(
    db: Connection, statement: Executable, rows: Iterable[Mapping[str, Any]]
) -> int:
    """Run `statement` once per batch of `rows` (one executemany each); returns the rows."""
    written, pending = 0, iter(rows)
    while batch := list(islice(pending, BATCH)):
        db.execute(statement, batch)
        written += len(batch)
    return written
