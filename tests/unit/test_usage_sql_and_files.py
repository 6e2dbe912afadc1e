"""The SQL source on SQLite and a real PostgreSQL, and the file source on local Parquet/CSV
and an object-store URL (fsspec's in-memory filesystem): the same weekly frame from each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import fsspec
import polars as pl
import pytest

from connector.errors import UsageSourceError
from connector.usage import FilesUsageSource, RowShape, SqlUsageSource
from tests.databases import KINDS, fresh_database, write_table

SHAPE = RowShape("tenant_id", "week", {"logins": "logins", "active_users": "active_users"})
EXPORT = pl.DataFrame(
    {
        "tenant_id": ["T1", "T1", "T2", None],
        "week": [date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 16), date(2026, 11, 16)],
        "logins": [3, 4, 5, 6],
        "active_users": [1.0, None, 2.0, 3.0],
    }
)
EXPECTED = [
    ("T1", date(2026, 11, 16), 4.0, None),
    ("T2", date(2026, 11, 16), 5.0, 2.0),
]
QUERY = (
    "SELECT tenant_id, week, logins, active_users FROM usage_weekly "
    "WHERE week >= :since AND week <= :as_of ORDER BY tenant_id, week"
)


@pytest.fixture(params=KINDS)
def usage_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        write_table(url, "usage_weekly", EXPORT)
        yield url


def test_the_sql_source_binds_since_and_as_of(usage_database: str) -> None:
    source = SqlUsageSource(usage_database, QUERY, SHAPE)
    batch = source.weekly_metrics(date(2026, 11, 10), as_of=date(2026, 11, 26))
    source.close()
    assert batch.weekly.rows() == EXPECTED
    assert batch.skipped == {"no account key at 'tenant_id'": 1}
    assert batch.rows_read == 3


def test_a_column_the_query_does_not_return_is_named(usage_database: str) -> None:
    query = "SELECT tenant_id, week, logins FROM usage_weekly"
    source = SqlUsageSource(usage_database, query, SHAPE)
    with pytest.raises(UsageSourceError, match="no column 'active_users'"):
        source.weekly_metrics(date(2026, 11, 10), as_of=date(2026, 11, 26))
    source.close()


def test_a_failing_query_is_a_sentence_without_the_url(usage_database: str) -> None:
    source = SqlUsageSource(usage_database, "SELECT * FROM no_such_table", SHAPE)
    with pytest.raises(UsageSourceError, match="the usage query failed") as raised:
        source.weekly_metrics(date(2026, 11, 10), as_of=date(2026, 11, 26))
    source.close()
    assert usage_database not in str(raised.value)


def _recent(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return frame.filter(pl.col("week_start") >= date(2026, 11, 10)).sort("account_key").rows()


def test_parquet_files_by_glob_read_in_name_order(tmp_path: Path) -> None:
    """Two daily files: the later one's count for a week replaces the earlier one's."""
    EXPORT.write_parquet(tmp_path / "usage-2026-11-21.parquet")
    EXPORT.head(2).with_columns(logins=99).write_parquet(tmp_path / "usage-2026-11-20.parquet")
    source = FilesUsageSource(str(tmp_path / "usage-*.parquet"), "parquet", SHAPE)
    batch = source.weekly_metrics()
    assert _recent(batch.weekly) == EXPECTED
    assert batch.skipped == {"no account key at 'tenant_id'": 1}


def test_only_a_file_holding_a_tenant_week_twice_with_other_numbers_is_a_conflict(
    tmp_path: Path,
) -> None:
    """A later daily file restating a week updates it; one file holding T1's week twice,
    with other numbers, is a conflict to report, resolved to its later row; an exact copy
    is one row."""
    EXPORT.write_parquet(tmp_path / "usage-2026-11-20.parquet")
    again = EXPORT.head(2).with_columns(logins=pl.Series([40, 41]))
    restated = pl.concat(
        [again, again.tail(1).with_columns(logins=pl.lit(42, pl.Int64)), EXPORT[2:3]]
    )
    restated.write_parquet(tmp_path / "usage-2026-11-21.parquet")
    batch = FilesUsageSource(str(tmp_path / "usage-*.parquet"), "parquet", SHAPE).weekly_metrics()

    assert batch.weekly.sort("account_key", "week_start").rows() == [
        ("T1", date(2026, 11, 9), 40.0, 1.0),
        ("T1", date(2026, 11, 16), 42.0, None),
        ("T2", date(2026, 11, 16), 5.0, 2.0),
    ]
    assert (batch.conflicting_weeks, batch.conflicting_keys) == (1, ("T1",))
    assert (batch.rows_read, batch.repeated_rows) == (8, 4)


def test_csv_from_an_object_store_url() -> None:
    """memory:// is fsspec's own in-memory filesystem: the same code path as s3:// or gs://."""
    memory = fsspec.filesystem("memory")
    with memory.open("/usage-bucket/weekly.csv", "wb") as handle:
        EXPORT.write_csv(handle)
    try:
        batch = FilesUsageSource("memory://usage-bucket/*.csv", "csv", SHAPE).weekly_metrics()
    finally:
        memory.rm("/usage-bucket", recursive=True)
    assert _recent(batch.weekly) == EXPECTED
    assert batch.weekly.schema["logins"] == pl.Float64


def test_no_file_matching_the_glob_is_an_error_naming_it(tmp_path: Path) -> None:
    source = FilesUsageSource(str(tmp_path / "nothing-*.parquet"), "parquet", SHAPE)
    with pytest.raises(UsageSourceError, match="no usage file matches"):
        source.weekly_metrics()


@pytest.mark.parametrize(
    "url",
    ["not a url with s3cr3t", "nosuchdialect://reader:s3cr3t@warehouse/analytics"],
    ids=["not a URL", "a dialect not installed"],
)
def test_an_unusable_database_url_is_a_sentence_without_the_url(url: str) -> None:
    with pytest.raises(UsageSourceError, match="USAGE_DATABASE_URL cannot be used") as raised:
        SqlUsageSource(url, QUERY, SHAPE)
    assert "s3cr3t" not in str(raised.value)
