"""A snapshot's JSON built by polars parses to what the per-row Python encoding stored."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from connector.store.snapshot_rows import columns_read, snapshot_rows


def _naive(text: str) -> datetime:
    """A zone-less moment, as a table may hold one."""
    return datetime.fromisoformat(text + "+00:00").replace(tzinfo=None)


VALUES: dict[str, list[object]] = {
    "score": [1.0, float("nan"), None, 1e20, 0.1],
    "seats": [1, 2, None, 4, 5],
    "active": [True, False, None, True, False],
    "name": ["株式会社", 'a "quoted" \\ text', None, "", "x"],
    "start": [date(2024, 6, 1), None, date(2026, 1, 31), date(2026, 2, 28), date(2000, 1, 1)],
    "seen": [
        _naive("2026-11-23T09:30:00"),
        _naive("2026-11-23T09:30:00.000005"),
        None,
        _naive("2026-01-01T00:00:00"),
        _naive("2026-01-01T00:00:01"),
    ],
    "seen_utc": [datetime(2026, 11, 23, 9, 30, tzinfo=UTC)] * 5,
}


def _as_python_encoded(value: object) -> object:
    """What the store wrote before: dates and times as ISO text, NaN as null."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return None if isinstance(value, float) and value != value else value


def test_measures_and_inputs_parse_to_what_the_python_encoding_stored() -> None:
    table = pl.DataFrame(
        {"id": [f"a{n}" for n in range(5)], "health_score": [50.0] * 5, "health_color": ["Red"] * 5}
        | VALUES
        | {"health_model_version": ["v1"] * 5}
    )
    names = list(VALUES)

    rows = snapshot_rows(table, names, ["start", "seen"])

    for n, (measures, inputs) in enumerate(rows.select("measures", "inputs").iter_rows()):
        expected = {name: _as_python_encoded(VALUES[name][n]) for name in names}
        assert json.loads(measures) == expected
        assert list(json.loads(measures)) == names  # in the given order
        assert json.loads(inputs) == {k: expected[k] for k in ("start", "seen")}


def test_a_table_without_a_model_version_stores_json_null_inputs() -> None:
    table = pl.DataFrame({"id": ["a"], "health_score": [1.0], "health_color": ["Red"]})
    assert snapshot_rows(table, [], ["health_score"]).select("measures", "inputs").rows() == [
        ("{}", "null")
    ]


def test_the_columns_it_reads_are_all_a_table_kept_for_its_snapshots_needs() -> None:
    wide = {f"unread_{n}": [n] * 5 for n in range(3)}
    for version in ({"health_model_version": ["v1"] * 5}, {}):
        table = pl.DataFrame(
            {"id": [f"a{n}" for n in range(5)], "health_score": [50.0] * 5}
            | {"health_color": ["Red"] * 5}
            | VALUES
            | wide
            | version
        )
        measures, inputs = ["score", "seats", "name"], ["start", "seen"]
        kept = table.select(columns_read(table.columns, measures, inputs))

        assert not set(wide) & set(kept.columns)
        assert_frame_equal(
            snapshot_rows(kept, measures, inputs), snapshot_rows(table, measures, inputs)
        )
