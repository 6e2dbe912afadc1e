"""One way to write rows into a store table: the dialect's INSERT … ON CONFLICT DO UPDATE,
so each save says only its table, its key and what a conflict changes — and a run
re-recording a day replaces rows, never duplicates them.

Written in bulk, as issue #13 asked (SQLAlchemy's binding of each row was most of the time,
not the database): on SQLite the statement is compiled once and the driver's executemany
runs it on batches of tuples converted a column at a time; on PostgreSQL, from `COPY_FROM`
rows on, they are copied (COPY) into a temporary table and taken from there by one
INSERT … SELECT.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    FromClause,
    Insert,
    String,
    Table,
    Text,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeEngine

from connector.store.driver_rows import bind_processors, driver_batches
from connector.store.pg_copy import ORDINAL, copy_to_temporary

JSON_TEXT = "_json"  # suffix of a row's key holding a JSON column's value encoded already

BATCH = 5_000  # rows per execute: 100,000 accounts' rows at once were 250 MB
# rows from which PostgreSQL's upsert goes by COPY: its temporary table costs a few round
# trips and catalog rows, so a 200-row task-ledger write was no faster (6.5 ms), while 500
# rows took 9 ms against 11-13 ms, 3,000 rows 34-42 ms against 75-81 ms
COPY_FROM = 500
ROUND = "round"  # a row's place among the rows of its key, when a key comes more than once


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
    if db.dialect.name == "postgresql":
        head = list(islice(pending, COPY_FROM))
        pending = chain(head, pending)
        if len(head) == COPY_FROM:
            return _upsert_copied(db, table, pending, list(first), conflict, set(json_text))
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


def _upsert_copied(
    db: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    names: list[str],
    conflict: Conflict,
    json_text: set[str],
) -> int:
    """COPY `rows` (keyed by `names`) into a temporary table, then upsert from it: one
    INSERT … SELECT, or one a round when a key comes more than once (the later row wins
    as it did when each row was its own INSERT)."""
    targets = {name: _target(name, json_text) for name in names}
    kinds = (_given_type(table, name, target) for name, target in targets.items())
    staged, written = copy_to_temporary(
        db,
        {name: _staged_type(table.c[target].type) for name, target in targets.items()},
        driver_batches(rows, names, bind_processors(db.dialect, kinds), BATCH),
    )
    rounds = _rounds(db, staged, conflict.keys)
    source = _ranked(staged, conflict.keys) if rounds > 1 else staged
    for number in range(1, rounds + 1):
        insert = _insert_from(table, source, targets, number if rounds > 1 else None)
        db.execute(conflict.on(insert, table))
    staged.drop(db)
    return written


def _insert_from(
    table: Table, source: FromClause, targets: Mapping[str, str], round_: int | None
) -> Any:
    """INSERT INTO `table` the staged rows (`targets`: staged name → column), or those of
    one round when a key repeats."""
    query = select(*(_source_column(source, table, n, t) for n, t in targets.items()))
    if round_ is not None:
        query = query.where(source.c[ROUND] == round_)
    return postgresql.insert(table).from_select(list(targets.values()), query)


def _target(name: str, json_text: set[str]) -> str:
    """The column a row's key fills: a `json_text` column's text comes under its own key."""
    column = name.removesuffix(JSON_TEXT)
    return column if name.endswith(JSON_TEXT) and column in json_text else name


def _given_type(table: Table, name: str, target: str) -> TypeEngine[Any]:
    """How a row's value is converted for the driver: JSON text as the string it is."""
    return String() if name != target else table.c[target].type


def _staged_type(kind: TypeEngine[Any]) -> TypeEngine[Any]:
    """A staged column's type: the target's, but JSON as the text it arrives as."""
    return Text() if isinstance(kind, JSON) else kind


def _source_column(source: FromClause, table: Table, name: str, target: str) -> Any:
    """The staged column `name` as `target` takes it (JSON text cast to JSON)."""
    kind = table.c[target].type
    return cast(source.c[name], kind) if isinstance(kind, JSON) else source.c[name]


def _rounds(db: Connection, staged: Table, keys: Sequence[str]) -> int:
    """How many rows the most repeated key has (1: every key once)."""
    per_key = (
        select(func.count().label("rows"))
        .select_from(staged)
        .group_by(*(staged.c[k] for k in keys))
    )
    return int(db.scalar(select(func.max(per_key.subquery().c.rows))) or 0)


def _ranked(staged: Table, keys: Sequence[str]) -> FromClause:
    """The staged rows, each with its `ROUND`: 1 for a key's first row, 2 for its next…"""
    place = func.row_number().over(
        partition_by=[staged.c[k] for k in keys], order_by=staged.c[ORDINAL]
    )
    return select(staged, place.label(ROUND)).subquery()
