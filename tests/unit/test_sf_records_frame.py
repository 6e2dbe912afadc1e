"""Salesforce query records into a typed frame, a page at a time: the same frame whatever
the page size, for every field type, nulls and nested relationship fields included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from connector.crm.salesforce.describe import FieldInfo, frame_from_records


def _info(name: str, kind: str) -> FieldInfo:
    return FieldInfo(name, kind, False, False, (), None)


RESOLVED = {
    "id": ("Id", _info("Id", "id")),
    "name": ("Name", _info("Name", "string")),
    "arr": ("ARR__c", _info("ARR__c", "currency")),
    "score": ("Score__c", _info("Score__c", "double")),
    "seats": ("Seats__c", _info("Seats__c", "int")),
    "share": ("Share__c", _info("Share__c", "percent")),
    "active": ("Active__c", _info("Active__c", "boolean")),
    "renewal": ("Renewal__c", _info("Renewal__c", "date")),
    "seen": ("LastSeen__c", _info("LastSeen__c", "datetime")),
    "owner_email": ("Owner.Email", _info("Email", "email")),
    "csm_name": ("CSM__r.Name", _info("Name", "string")),
}


def _record(number: int, **values: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, "Id": f"001{number}", **values}


RECORDS = [
    _record(
        1,
        Name="Northwind",
        ARR__c=12000,  # JSON integers in a currency field
        Score__c=71.5,
        Seats__c=40,
        Share__c=12.5,
        Active__c=True,
        Renewal__c="2027-02-28",
        LastSeen__c="2026-11-20T23:30:00.000+0000",
        Owner={"attributes": {"type": "User"}, "Email": "aiko@x.io"},
        CSM__r={"attributes": {"type": "User"}, "Name": "Ben"},
    ),
    _record(
        2,
        Name="Sakura",
        ARR__c=3000.5,
        Score__c=None,
        Seats__c=None,
        Share__c=None,
        Active__c=False,
        Renewal__c=None,
        LastSeen__c=None,
        Owner={"attributes": {"type": "User"}, "Email": None},
        CSM__r=None,  # no CSM: the nested record is null
    ),
    _record(  # a page of its own where every value is null
        3,
        Name=None,
        ARR__c=None,
        Score__c=None,
        Seats__c=None,
        Share__c=None,
        Active__c=None,
        Renewal__c=None,
        LastSeen__c=None,
        Owner=None,
        CSM__r=None,
    ),
]

EXPECTED = pl.DataFrame(
    {
        "id": ["0011", "0012", "0013"],
        "name": ["Northwind", "Sakura", None],
        "arr": [12000.0, 3000.5, None],
        "score": [71.5, None, None],
        "seats": [40, None, None],
        "share": [12.5, None, None],
        "active": [True, False, None],
        "renewal": [date(2027, 2, 28), None, None],
        "seen": [datetime(2026, 11, 20, 23, 30, tzinfo=UTC), None, None],
        "owner_email": ["aiko@x.io", None, None],
        "csm_name": ["Ben", None, None],
    },
    schema={
        "id": pl.String,
        "name": pl.String,
        "arr": pl.Float64,
        "score": pl.Float64,
        "seats": pl.Int64,
        "share": pl.Float64,
        "active": pl.Boolean,
        "renewal": pl.Date,
        "seen": pl.Datetime("ms", "UTC"),
        "owner_email": pl.String,
        "csm_name": pl.String,
    },
)


def test_records_become_typed_columns_for_every_field_type() -> None:
    assert_frame_equal(frame_from_records(RECORDS, RESOLVED), EXPECTED)


def test_pages_of_any_size_give_the_same_frame() -> None:
    for page_rows in (1, 2, 3, 2000):
        frame = frame_from_records(iter(RECORDS), RESOLVED, page_rows=page_rows)
        assert_frame_equal(frame, EXPECTED)


def test_no_records_give_the_typed_empty_frame() -> None:
    assert_frame_equal(frame_from_records([], RESOLVED), EXPECTED.clear())
