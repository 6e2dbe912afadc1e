"""A fresh database per test: a SQLite file, or a database created on the PostgreSQL server
CI starts (STATE_DATABASE_URL_TEST) and dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy import create_engine, text

KINDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    url = os.environ.get("STATE_DATABASE_URL_TEST")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide STATE_DATABASE_URL_TEST (see .ci/run)")
        pytest.skip("no PostgreSQL: set STATE_DATABASE_URL_TEST (see .ci/postgres)")
    return url


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of `kind`, gone after the test."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    database = f"test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        yield admin.url.set(database=database).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{database}"'))
        admin.dispose()


_TYPES: dict[type[pl.DataType], type[sa.types.TypeEngine[object]]] = {
    pl.String: sa.String,
    pl.Date: sa.Date,
    pl.Int64: sa.BigInteger,
    pl.Float64: sa.Float,
}


def write_table(url: str, name: str, frame: pl.DataFrame) -> None:
    """`frame` as a new table `name` (String, Date, Int64 and Float64 columns)."""
    engine = sa.create_engine(url)
    columns = [sa.Column(c, _TYPES[type(t)]()) for c, t in frame.schema.items()]
    table = sa.Table(name, sa.MetaData(), *columns)
    with engine.begin() as connection:
        table.create(connection)
        connection.execute(table.insert(), frame.to_dicts())
    engine.dispose()
