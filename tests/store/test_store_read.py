"""The one frame reader gives each column type as SQLAlchemy's own result processing did,
on SQLite (ISO text dates and times, 0/1 booleans) and PostgreSQL (the driver's objects)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    create_engine,
    insert,
    null,
    select,
)

from connector.store.read import read_chunks, read_frame
from tests.databases import KINDS, fresh_database

values = Table(
    "read_values",
    MetaData(),
    Column("position", Integer, primary_key=True),
    Column("text", String(20)),
    Column("number", Float),
    Column("day", Date),
    Column("moment", DateTime(timezone=True)),
    Column("flag", Boolean),
    Column("payload", JSON),
)
exact = Table(
    "read_exact",
    values.metadata,
    Column("position", Integer, primary_key=True),
    Column("text", String(40)),
    Column("number", Float),
    Column("count", BigInteger),
)
ROWS = [
    {
        "position": 1,
        "text": "a",
        "number": 1.5,
        "day": date(2026, 11, 27),
        "moment": datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC),
        "flag": True,
        "payload": {"logins": 3},
    },
    {
        "position": 2,
        "text": "",
        "number": float("nan"),
        "day": date(1999, 12, 31),
        # the store writes UTC: SQLite keeps the clock time and drops any zone
        "moment": datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
        "flag": False,
        "payload": null(),  # SQL NULL
    },
    {
        "position": 3,
        "text": None,
        "number": None,
        "day": None,
        "moment": None,
        "flag": None,
        "payload": None,  # JSON null: the text 'null'
    },
]
SCHEMA = {
    "position": pl.Int64,
    "text": pl.String,
    "number": pl.Float64,
    "day": pl.Date,
    "moment": pl.Datetime("us", "UTC"),
    "moment_in_tokyo": pl.Datetime("us", "Asia/Tokyo"),
    "flag": pl.Boolean,
    "payload": pl.String,
}
QUERY = select(
    *(values.c[name] for name in ["position", "text", "number", "day", "moment"]),
    values.c.moment.label("moment_in_tokyo"),
    values.c.flag,
    cast(values.c.payload, String),
).order_by(values.c.position)


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    """A transaction on a fresh database holding `ROWS`, rolled back after the test."""
    with fresh_database(request.param, tmp_path) as url:
        engine = create_engine(url)
        values.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(insert(values), ROWS)
        with engine.connect() as connection, connection.begin():
            yield connection
        engine.dispose()


def test_each_column_type_reads_as_its_schema_says(db: Connection) -> None:
    moments = [
        datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC),
        datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
        None,
    ]
    # SQLite stores a NaN as NULL; PostgreSQL keeps it (the store's diff takes NaN as null)
    nan = None if db.dialect.name == "sqlite" else float("nan")
    expected = pl.DataFrame(
        {
            "position": [1, 2, 3],
            "text": ["a", "", None],
            "number": [1.5, nan, None],
            "day": [date(2026, 11, 27), date(1999, 12, 31), None],
            "moment": moments,
            "moment_in_tokyo": moments,
            "flag": [True, False, None],
            "payload": ['{"logins": 3}', None, "null"],
        },
        schema=SCHEMA,
    )

    frame = read_frame(db, QUERY, SCHEMA)

    assert_frame_equal(frame, expected)
    assert frame["moment_in_tokyo"][0].hour == 18  # 09:30 UTC, on Tokyo's clock


def test_an_empty_result_is_an_empty_frame_of_the_schema(db: Connection) -> None:
    frame = read_frame(db, QUERY.where(values.c.text == "nobody"), SCHEMA)

    assert frame.height == 0
    assert frame.schema == pl.Schema(SCHEMA)


def test_a_read_sees_what_its_transaction_wrote_before_the_commit(db: Connection) -> None:
    db.execute(insert(values).values(position=4, text="uncommitted", flag=True))

    frame = read_frame(db, QUERY.where(values.c.position == 4), SCHEMA)

    assert frame.select("text", "flag").rows() == [("uncommitted", True)]


@pytest.mark.parametrize("order_by", [["day"], ["text", "position"]])
def test_rows_come_in_the_order_asked(db: Connection, order_by: list[str]) -> None:
    """Sorted by the server, or on SQLite by polars after the read: the same order."""
    unordered = select(*(values.c[name] for name in ["position", "text", "day"])).where(
        values.c.position < 3  # a null sorts first on SQLite, last on PostgreSQL
    )
    schema = {name: SCHEMA[name] for name in ["position", "text", "day"]}

    frame = read_frame(db, unordered, schema, order_by=order_by)

    assert frame["position"].to_list() == [2, 1]  # as stored: 1, 2


def test_chunks_hold_at_most_their_size_and_together_the_rows(db: Connection) -> None:
    chunks = list(read_chunks(db, QUERY, SCHEMA, 2))

    assert [chunk.height for chunk in chunks] == [2, 1]
    assert_frame_equal(pl.concat(chunks), read_frame(db, QUERY, SCHEMA))


def test_text_and_numbers_come_back_exactly_as_stored(db: Connection) -> None:
    """Each row travels as a line of JSON: quotes, backslashes, line breaks and Japanese
    text are escaped and unescaped, floats keep all 17 digits (SQLite's JSON writes 15; its
    printf is exact to 1e±127) and integers past 2**53 stay whole."""
    stored = [
        (1, 'say "hi"\\n\nnext\tline', 0.1 + 0.2, 2**62 + 1),
        (2, "株式会社サンプル 🎌", 1 / 3, -(2**62)),
        (3, "null", 123456.78901234567, 0),
        (4, '{"a": 1}', 1.5e-100, None),
        (5, None, 6.02214076e23, 7),
    ]
    db.execute(
        insert(exact),
        [dict(zip(["position", "text", "number", "count"], row, strict=True)) for row in stored],
    )
    schema = {"position": pl.Int64, "text": pl.String, "number": pl.Float64, "count": pl.Int64}

    frame = read_frame(db, select(exact).order_by(exact.c.position), schema, order_by=["position"])

    assert frame.rows() == stored
