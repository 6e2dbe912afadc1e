"""One way to write rows into a store table: the dialect's INSERT … ON CONFLICT DO UPDATE,
so each save says only its table, its key and what a conflict changes — and a run
re-recording a day replaces rows, never duplicates them.

Written in bulk, as issue #13 asked (SQLAlchemy's binding of each row was most of the time,
not the database): on SQLite the statement is compiled once and the driver's executemany
runs it on batches of tuples converted a column at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Insert,
    String,
    Table,
    bindparam,
    cast,
    func,
)
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.driver_rows import bind_processors, driver_batches

JSON_TEXT = "_json"  # suffix of a row's key holding a JSON column's value encoded already

BATCH = 5_000  # rows per execute: 100,000 accounts' rows at once were 250 MB


@dataclass(frozen=True, slots=True)
class Conflict:
    """What a row whose `keys` exist changes: its `update` columns, and its `keep_known`
    columns unless the new value is null (then the stored value stays)."""

    keys: Sequence[str]
    update: Sequence[str]
    keep_known: Sequence[str]

    def on(self, insert: Any, table: Table) -> Any:
        """`insert` (the dialect's) with this conflict's DO UPDATE."""
        changes: dict[str, Any] = {name: insert.excluded[name] for name in self.update}
        changes |= {
            name: func.coalesce(insert.excluded[name], table.c[name]) for name in self.keep_known
        }
        return insert.on_conflict_do_update(index_elements=list(self.keys), set_=changes)


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
    column comes as JSON text under its name + `JSON_TEXT` and is stored as it is. A key
    given twice ends as if the rows were written one after the other."""
    first, pending = _peek(rows)
    if first is None:
        return 0
    conflict = Conflict(list(keys), list(update), list(keep_known))
    insert = dialect_insert(db, table)
    if texts := {name: _json_text(db, name) for name in json_text}:
        insert = insert.values(texts)
    return execute_batched(db, conflict.on(insert, table), pending)


def dialect_insert(db: Connection, table: Table) -> Any:
    """The dialect's INSERT, which can yield to or update a row saved meanwhile (ON CONFLICT)."""
    return (postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert)(table)


def _json_text(db: Connection, name: str) -> Any:
    """A JSON column's value bound as the text it is (SQLite keeps JSON as text; PostgreSQL
    is told it is JSON), so the encoding done columnar is not done again per row."""
    text = bindparam(name + JSON_TEXT, type_=String)
    return cast(text, JSON) if db.dialect.name == "postgresql" else text


def execute_batched(db: Connection, statement: Insert, rows: Iterable[Mapping[str, Any]]) -> int:
    """Run `statement` once per batch of `rows` (one executemany each); returns the rows.
    On SQLite it is compiled once, for the first row's keys, and the driver runs it on
    tuples converted a column at a time; elsewhere SQLAlchemy binds each row."""
    first, pending = _peek(rows)
    if first is None:
        return 0
    if db.dialect.name != "sqlite":
        return _bound_batches(db, statement, pending)
    compiled = statement.compile(dialect=db.dialect, column_keys=list(first))
    if compiled.insert_prefetch or compiled.update_prefetch:
        return _bound_batches(db, statement, pending)  # Python-side defaults, filled per row
    names = compiled.positiontup or []
    processors = bind_processors(db.dialect, (compiled.binds[name].type for name in names))
    written = 0
    for batch in driver_batches(pending, names, processors, BATCH):
        db.exec_driver_sql(compiled.string, batch)
        written += len(batch)
    return written


def _bound_batches(db: Connection, statement: Insert, rows: Iterable[Mapping[str, Any]]) -> int:
    """SQLAlchemy's executemany, a batch of rows at a time."""
    written, pending = 0, iter(rows)
    while batch := list(islice(pending, BATCH)):
        db.execute(statement, batch)
        written += len(batch)
    return written


def _peek(
    rows: Iterable[Mapping[str, Any]],
) -> tuple[Mapping[str, Any] | None, Iterator[Mapping[str, Any]]]:
    """The first row (None: no rows) and all the rows, the first included."""
    pending = iter(rows)
    first = next(pending, None)
    return first, pending if first is None else chain([first], pending)
