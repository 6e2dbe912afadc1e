"""The one way to read a frame from the store: SQLAlchemy runs the query (binding its
values, inside the caller's transaction), the database writes each row as one JSON object,
and polars parses those lines and does per column what SQLAlchemy's result processing did
per value (SQLite's ISO dates and times, its 0/1 booleans). At 236,691 closed deals that
per-value processing was half the read's CPU.

Why JSON: a row of tuples is a Python object per value. The day after a first run at
100,000 accounts, the store's reads (about a million rows, beside the CRM's) made Python's
heap 138 MB where it held 60 MB before them, and it stayed that size to the end of the run
(a few long-lived objects made meanwhile keep each of its arenas). With one `bytes` a row
it stays at 79 MB, and the run's peak was 820 MB instead of 866–876.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import DateTime

# rows (as Python tuples, or JSON lines) held at once while read: each chunk is held as
# the driver's rows, their joined text and the frame at once, beside a run's other reads
# (at 50,000 a same-day rerun peaked ~45 MB higher, for no time saved)
READ_CHUNK = 20_000
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.f"  # how SQLAlchemy stores a DateTime in SQLite
# PostgreSQL's moment, in UTC, written as SQLite holds one (SQLITE_DATETIME)
_POSTGRES_DATETIME = "YYYY-MM-DD HH24:MI:SS.US"


def read_frame(
    db: Connection,
    query: Select[Any],
    schema: Mapping[str, Any],
    *,
    order_by: Sequence[str] = (),
) -> pl.DataFrame:
    """The query's rows as a frame typed by `schema` (its columns, in the query's order),
    fetched `READ_CHUNK` rows at a time, in ascending order of the `order_by` columns. A
    server sorts them (its collation orders text); SQLite's rows are sorted by polars, in
    the same order (its BINARY collation is byte order, its dates ISO text, nulls first):
    SQLite sorted 94,525 renewals by walking the close-date index at as much CPU as reading
    them."""
    server_order = order_by if db.dialect.name != "sqlite" else ()
    chunks = list(read_chunks(db, query, schema, order_by=server_order))
    frame = pl.concat(chunks) if chunks else pl.DataFrame(schema=dict(schema))
    return frame.sort(order_by) if order_by and not server_order else frame


def read_chunks(
    db: Connection,
    query: Select[Any],
    schema: Mapping[str, Any],
    size: int = READ_CHUNK,
    *,
    order_by: Sequence[str] = (),
) -> Iterator[pl.DataFrame]:
    """The query's rows as frames of at most `size` rows each, typed as `read_frame`'s, in
    the order of the `order_by` columns, else in none: for a caller that can use each and
    drop it (`changed_rows`). The columns are the query's, in its order, named by
    `schema`."""
    wire = {name: _line_type(dtype) for name, dtype in schema.items()}
    result = db.execute(_json_lines(db, query, schema, order_by))
    try:
        while rows := result.cursor.fetchmany(size):
            text = b"\n".join(row[0] for row in rows)
            del rows
            yield _as_schema(pl.read_ndjson(text, schema=wire), wire, schema)
    finally:
        result.close()


def _json_lines(
    db: Connection, query: Select[Any], schema: Mapping[str, Any], order_by: Sequence[str]
) -> Select[Any]:
    """`query`'s rows, each as one JSON object in UTF-8 bytes (and nothing else: a value
    beside it would be a Python object again), keyed by `schema`'s names, each value
    written by `_json_value`; in the order of the query's `order_by` columns."""
    rows = query.subquery()
    pairs: list[Any] = []
    for (name, dtype), column in zip(schema.items(), rows.c, strict=True):
        pairs += [cast(literal(name), String), _json_value(db, column, dtype)]
    line: ColumnElement[Any]
    if db.dialect.name == "sqlite":
        line = cast(func.json_object(*pairs), LargeBinary)
    else:
        line = func.convert_to(cast(func.json_build_object(*pairs), Text), "UTF8")
    return select(line).select_from(rows).order_by(*(rows.c[name] for name in order_by))


def _json_value(db: Connection, column: ColumnElement[Any], dtype: Any) -> ColumnElement[Any]:
    """How `column` goes into its row's JSON, as `_line_type` reads it: a float as text of
    17 significant digits (SQLite's JSON numbers have 15; its printf reads back exactly
    within 1e±127, past which the store holds nothing), a moment as UTC text in SQLite's
    form, a boolean as 0 or 1, text as text."""
    sqlite = db.dialect.name == "sqlite"
    if dtype == pl.Float64:
        if sqlite:  # "!" lifts printf's 16-digit limit; NULL would print as 0.0
            return case((column.is_(None), None), else_=func.printf("%!.17g", column))
        return cast(column, Text)  # the shortest text that reads back (PostgreSQL 12+)
    if isinstance(dtype, pl.Datetime) and not sqlite:
        zoned = isinstance(column.type, DateTime) and column.type.timezone
        utc = column.op("AT TIME ZONE")(literal("UTC")) if zoned else column
        return func.to_char(utc, _POSTGRES_DATETIME)
    if dtype == pl.Boolean:
        return cast(column, Integer)
    if dtype == pl.String:
        return cast(column, Text)
    return column


def _line_type(dtype: Any) -> Any:
    """The type a JSON line holds a column read as `dtype` in (`_json_value`): SQLite's,
    and floats as text."""
    return pl.String if dtype == pl.Float64 else _sqlite_type(dtype)


def driver_frame(db: Connection, rows: Sequence[Any], schema: Mapping[str, Any]) -> pl.DataFrame:
    """Rows as `db`'s driver gave them (not through SQLAlchemy's result processing), as a
    frame typed by `schema`."""
    sqlite = db.dialect.name == "sqlite"
    wire = {name: _sqlite_type(dtype) if sqlite else dtype for name, dtype in schema.items()}
    return _as_schema(pl.DataFrame(rows, schema=wire, orient="row"), wire, schema)


def _as_schema(
    frame: pl.DataFrame, wire: Mapping[str, Any], schema: Mapping[str, Any]
) -> pl.DataFrame:
    """`frame`, read with the `wire` types, typed by `schema`."""
    return frame.with_columns(
        _typed(name, wire[name], dtype) for name, dtype in schema.items() if wire[name] != dtype
    )


def _sqlite_type(dtype: Any) -> Any:
    """The type SQLite's driver gives a column read as `dtype` in: text for dates and times
    and 0/1 for booleans (psycopg gives Python's dates, times and booleans)."""
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return pl.String
    if dtype == pl.Boolean:
        return pl.Int64
    return dtype


def _typed(name: str, wire: Any, dtype: Any) -> pl.Expr:
    """Column `name`, as the driver gave it (`wire`), typed as `dtype`. SQLite keeps a
    zoned moment as its UTC time without the zone (what `HistoryStore` wrote)."""
    column = pl.col(name)
    if dtype == pl.Date:
        return column.str.to_date("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        naive = column.str.to_datetime(SQLITE_DATETIME, time_unit=dtype.time_unit)
        if dtype.time_zone is None:
            return naive
        return naive.dt.replace_time_zone("UTC").dt.convert_time_zone(dtype.time_zone)
    return column.cast(dtype)
