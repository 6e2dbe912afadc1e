"""A packed frame unpacks to the same frame, or only the rows and columns asked for."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from connector.packed import PackedFrame

FRAME = pl.DataFrame(
    {
        "id": ["003A", "003B", "003C"],
        "account_id": ["001A", "001B", "001A"],
        "name": ["山田 太郎", None, 'Ann "Quote" O\'Neil'],
        "seats": [1.5, None, 1e300],
        "since": [date(2026, 1, 5), None, date(2026, 11, 2)],
        "seen": [datetime(2026, 3, 1, 9, 30, tzinfo=UTC), None, None],
        "primary": [True, None, False],
    }
)


def test_a_packed_frame_unpacks_as_it_was() -> None:
    packed = PackedFrame.of(FRAME)

    assert_frame_equal(packed.rows(), FRAME)
    assert len(packed.parquet) > 0


def test_only_the_rows_and_columns_asked_for_are_unpacked() -> None:
    packed = PackedFrame.of(FRAME)

    rows = packed.rows(["id", "name"], pl.col("account_id") == "001A")

    assert_frame_equal(rows, FRAME.filter(pl.col("account_id") == "001A").select("id", "name"))
    assert packed.rows(where=pl.col("account_id") == "001Z").schema == FRAME.schema
