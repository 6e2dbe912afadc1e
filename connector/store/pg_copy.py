"""Rows into PostgreSQL by COPY: a temporary table shaped like the columns given, filled
through psycopg's COPY on the caller's own connection (so inside its transaction), for one
INSERT … SELECT to take them from — an executemany sent and bound every row on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Identity, MetaData, Table
from sqlalchemy.types import TypeEngine

STAGED = "staged_rows"  # dropped after each use, so one transaction may stage again
ORDINAL = "staged_row"  # numbered by the server as COPY reads: which of a key's rows came later


def copy_to_temporary(
    db: Connection,
    columns: Mapping[str, TypeEngine[Any]],
    batches: Iterable[list[tuple[Any, ...]]],
) -> tuple[Table, int]:
    """A temporary table (`columns` and `ORDINAL`, dropped at commit) holding the rows of
    `batches` in order; and how many rows that is. Drop it when read. psycopg is imported
    here, where PostgreSQL's connection has loaded it already: a run on a SQLite store
    does not load it (11 MB)."""
    import psycopg
    from psycopg import sql

    staged = Table(
        STAGED,
        MetaData(),
        *(Column(name, kind) for name, kind in columns.items()),
        Column(ORDINAL, BigInteger, Identity()),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )
    staged.create(db)
    written = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(STAGED), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver = db.connection.driver_connection  # psycopg's: the same transaction
    assert isinstance(driver, psycopg.Connection)
    cursor = driver.cursor()
    with cursor, cursor.copy(statement) as copy:
        for batch in batches:
            for row in batch:
                copy.write_row(row)
            written += len(batch)
    return staged, written
