"""Usage from a database the company already keeps it in (PostgreSQL, Snowflake, BigQuery,
DuckDB, SQLite...) through SQLAlchemy: the mapping's query, with `:since` and `:as_of`
bound as parameters, never pasted into its text."""

from __future__ import annotations

from datetime import date

import polars as pl
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import UsageSourceError
from connector.usage.rows import PART, RowShape, UsageBatch, checked


class SqlUsageSource:
    def __init__(self, url: str, query: str, shape: RowShape) -> None:
        try:
            self._engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:  # the URL is a secret: not shown
            raise UsageSourceError(
                f"USAGE_DATABASE_URL cannot be used ({type(exc).__name__}: {exc}); it is a "
                "SQLAlchemy URL such as postgresql+psycopg://user:password@host/db, and its "
                "dialect's driver must be installed."
            ) from None
        self._query, self._shape = sa.text(query), shape

    def close(self) -> None:
        self._engine.dispose()

    def weekly_metrics(self, since: date, as_of: date) -> UsageBatch:
        """The query's rows, the columns it names in `shape` taken as the key, week and
        metrics; a metric column the query does not return is a shape problem, said so."""
        bound = {"since": since, "as_of": as_of}
        params = {name: bound[name] for name in self._query.compile().params}
        try:
            with self._engine.connect() as connection:
                result = connection.execute(self._query, params)
                columns = list(result.keys())
                raw = pl.DataFrame(
                    result.fetchall(), schema=columns, orient="row", infer_schema_length=None
                )
        except SQLAlchemyError as exc:
            raise UsageSourceError(
                f"the usage query failed ({type(exc).__name__}): {exc.orig or exc}"
                if isinstance(exc, sa.exc.DBAPIError)
                else f"the usage query failed: {exc}",
                transient=isinstance(exc, sa.exc.OperationalError),
            ) from None
        return batch_from_columns(raw, self._shape, "the usage query")


def batch_from_columns(raw: pl.DataFrame, shape: RowShape, source: str) -> UsageBatch:
    """A frame with the source's own columns as the usage batch: each path names a column
    (a dotted path a field of a struct column); a column that is not there is an error naming
    it, as every row would lack it."""
    missing = [path for path in shape.paths().values() if path.split(".")[0] not in raw.columns]
    if missing:
        raise UsageSourceError(
            f"{source} has no column {', '.join(repr(m) for m in missing)} "
            f"(it has {', '.join(raw.columns) or 'none'}); rename them in the source or map "
            "them under usage.fields in the mapping.",
        )
    parts = [PART] if PART in raw.columns else []
    frame = raw.select(*(_column(path).alias(name) for name, path in shape.paths().items()), *parts)
    return checked(frame, shape)


def _column(path: str) -> pl.Expr:
    first, *rest = path.split(".")
    column = pl.col(first)
    for name in rest:
        column = column.struct.field(name)
    return column
