"""The bulk upsert (SQLite: the driver's executemany on converted tuples; PostgreSQL: COPY
and one INSERT … SELECT) stores exactly what SQLAlchemy writing each row on its own stores:
nulls, NaN, dates, times, booleans, bytes, JSON given as text or as values, a `keep_known`
null keeping the stored value, and a key given twice ending as its rows in order leave it."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    cast,
    create_engine,
    func,
    select,
)

from connector.store.upsert import COPY_FROM, JSON_TEXT, dialect_insert, upsert
from tests.databases import KINDS, fresh_database

KEY = ["key", "day"]
UPDATE = ["amount", "won", "closed_on", "doc", "meta", "seen_at", "blob"]
KEEP_KNOWN = ["owner"]  # not in UPDATE, KEEP_KNOWN or KEY: "first" is written only once
NAN = float("nan")
DAY = date(2026, 11, 23)
AT = datetime(2026, 11, 23, 9, 30, 1, 250, tzinfo=UTC)

FIRST = [
    ("a", DAY, 10.5, True, DAY, '{"x": 1, "y": null}', {"m": [1, 2]}, AT, b"\x00\x01", "o1", "f"),
    ("b", DAY, NAN, False, None, None, None, None, None, None, None),
    ("c", DAY, 3.0, None, date(1999, 1, 2), "null", {}, AT, b"", "o3", "first c"),
]
SECOND = [  # an update, a keep_known null, a new row, and a key given twice
    ("a", DAY, None, False, None, '{"x": 2}', None, None, None, None, "f2"),
    ("b", DAY, 7.0, True, DAY, '{"b": "é\\n\\t"}', {"q": "'\"%s\\"}, AT, b"\\x", "o2", None),
    ("d", DAY, -0.0, True, DAY, "[]", None, AT, None, "o4", "first d"),
    ("d", DAY, 1e300, False, None, '{"d": 2}', {"d": 2}, None, b"d", None, "second d"),
    ("d", DAY, 2.5, None, DAY, None, None, AT, None, "o5", "third d"),
]
NAMES = ["key", "day", "amount", "won", "closed_on", "doc", "meta", "seen_at", "blob", "owner"]


def _table(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("key", String(20), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("amount", Float),
        Column("won", Boolean),
        Column("closed_on", Date),
        Column("doc", JSON),  # given as JSON text
        Column("meta", JSON),  # given as Python values
        Column("seen_at", DateTime(timezone=True)),
        Column("blob", LargeBinary),
        Column("owner", String(20)),
        Column("first", String(20)),
    )


BULK, EACH = _table("bulk_written"), _table("each_written")


@pytest.fixture(params=[0, COPY_FROM], ids=["few rows", "many rows"])
def filler(request: pytest.FixtureRequest) -> list[tuple[Any, ...]]:
    """Rows written beside the others: enough of them, and PostgreSQL upserts by COPY."""
    return [
        (f"z{n:05d}", DAY, n / 3, n % 2 == 0, DAY, f'{{"n": {n}}}', [n], AT, None, None, None)
        for n in range(request.param)
    ]


@pytest.fixture(params=KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_database(request.param, tmp_path) as url:
        created = create_engine(url)
        with created.begin() as db:
            BULK.create(db)
            EACH.create(db)
        yield created
        created.dispose()


def _rows(given: Sequence[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    """As the store's saves give them: a generator, the JSON text under its `JSON_TEXT` key."""
    for values in given:
        row = dict(zip([*NAMES, "first"], values, strict=True))
        row["doc" + JSON_TEXT] = row.pop("doc")
        yield row


def _write_bulk(db: Connection, given: Sequence[tuple[Any, ...]]) -> int:
    return upsert(db, BULK, _rows(given), KEY, UPDATE, keep_known=KEEP_KNOWN, json_text=["doc"])


def _write_each(db: Connection, given: Sequence[tuple[Any, ...]]) -> None:
    """Plain SQLAlchemy, one row an execute: what the bulk path must store."""
    for row in _rows(given):
        insert = dialect_insert(db, EACH)
        text = bindparam("doc" + JSON_TEXT, type_=String)
        insert = insert.values(doc=cast(text, JSON) if db.dialect.name == "postgresql" else text)
        changes: dict[str, Any] = {name: insert.excluded[name] for name in UPDATE}
        changes["owner"] = func.coalesce(insert.excluded.owner, EACH.c.owner)
        db.execute(insert.on_conflict_do_update(index_elements=KEY, set_=changes), row)


def _stored(db: Connection, table: Table) -> list[tuple[tuple[str, Any], ...]]:
    """Every row as the driver reads it back, JSON as its stored text: each value with its
    Python type (1 is not 1.0, nor '2026-11-23' a date), NaN as text."""
    columns = [cast(c, Text) if isinstance(c.type, JSON) else c for c in table.c]
    query = select(*columns).order_by(*KEY).compile(dialect=db.dialect)
    rows = db.exec_driver_sql(str(query)).all()
    return [tuple(_typed(value) for value in row) for row in rows]


def _typed(value: Any) -> tuple[str, Any]:
    if isinstance(value, float) and math.isnan(value):
        return "float", "NaN"
    return type(value).__name__, bytes(value) if isinstance(value, memoryview) else value


def test_bulk_rows_are_stored_as_sqlalchemy_stores_each_row(
    engine: Engine, filler: list[tuple[Any, ...]]
) -> None:
    for rows in (FIRST, SECOND):
        given = [*rows, *filler]
        with engine.begin() as db:
            assert _write_bulk(db, given) == len(given)
            _write_each(db, given)
        with engine.connect() as db:
            assert _stored(db, BULK) == _stored(db, EACH)


def test_a_null_keep_known_value_keeps_the_stored_one(
    engine: Engine, filler: list[tuple[Any, ...]]
) -> None:
    with engine.begin() as db:
        _write_bulk(db, [*FIRST, *filler])
        _write_bulk(db, [*SECOND, *filler])
    wanted = BULK.c.key < "z"
    with engine.connect() as db:
        owners = dict(db.execute(select(BULK.c.key, BULK.c.owner).where(wanted)).all())
        firsts = dict(db.execute(select(BULK.c.key, BULK.c.first).where(wanted)).all())
    assert owners == {"a": "o1", "b": "o2", "c": "o3", "d": "o5"}
    assert firsts == {"a": "f", "b": None, "c": "first c", "d": "first d"}


def test_a_key_given_twice_ends_as_its_later_rows_leave_it(
    engine: Engine, filler: list[tuple[Any, ...]]
) -> None:
    with engine.begin() as db:
        _write_bulk(db, [*SECOND[2:], *filler])
    with engine.connect() as db:
        row: Mapping[str, Any] = db.execute(select(BULK).where(BULK.c.key == "d")).mappings().one()
    assert (row["amount"], row["won"], row["owner"], row["first"]) == (2.5, None, "o5", "first d")
    assert row["meta"] is None  # the JSON null the last row gave


def test_no_rows_write_nothing(engine: Engine) -> None:
    with engine.begin() as db:
        assert _write_bulk(db, []) == 0
    with engine.connect() as db:
        assert db.scalar(select(func.count()).select_from(BULK)) == 0


def test_a_sqlite_store_runs_without_loading_postgresqls_driver(tmp_path: Path) -> None:
    """psycopg is imported where a PostgreSQL connection already loaded it: a worker on a
    SQLite store does not hold it (11 MB)."""
    script = (
        "import sys\n"
        "from connector.cli import app\n"
        "from connector.run import run_sync\n"
        "from connector.store import HistoryStore\n"
        f"HistoryStore.open('sqlite:///{tmp_path / 'state.db'}').close()\n"
        "sys.exit('psycopg' in sys.modules)\n"
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 0
