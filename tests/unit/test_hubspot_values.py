"""HubSpot's string values become typed columns, and typed values go back as HubSpot takes them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from connector.crm.hubspot.describe import PropertyInfo, column, write_value


def test_values_are_typed_by_the_property_type() -> None:
    assert column("n", ["72.5", "", None], PropertyInfo("n", "number")).to_list() == [
        72.5,
        None,
        None,
    ]
    assert column("b", ["true", "false", None], PropertyInfo("b", "bool")).to_list() == [
        True,
        False,
        None,
    ]
    assert column("d", ["2026-11-23", "1795392000000"], PropertyInfo("d", "date")).to_list() == [
        date(2026, 11, 23),
        date(2026, 11, 23),
    ]
    moments = column(
        "t", ["2026-11-23T10:00:00.000Z", "2026-11-23T10:00:00Z"], PropertyInfo("t", "datetime")
    )
    assert moments.dtype == pl.Datetime("ms", "UTC")
    assert moments.to_list() == [datetime(2026, 11, 23, 10, tzinfo=UTC)] * 2


def test_dates_are_written_as_midnight_utc_and_datetimes_as_utc_milliseconds() -> None:
    assert write_value(date(2026, 11, 23)) == "1795392000000"
    assert write_value(datetime(2026, 11, 23, 10, tzinfo=UTC)) == "1795428000000"


def test_numbers_booleans_and_clearing() -> None:
    assert write_value(72.0) == "72"
    assert write_value(72.5) == "72.5"
    assert write_value(True) == "true"
    assert write_value(None) == ""  # HubSpot clears a property set to the empty string
    assert write_value("Red") == "Red"
