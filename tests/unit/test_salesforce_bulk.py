"""The pure parts of the Bulk API 2.0 path: ingest CSV (cells, one header, the upload
limit), result sets typed as REST types them, and how a job is polled."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connector.config.mapping import TaskMapping
from connector.crm.protocol import TaskIntent
from connector.crm.salesforce.bulk import Polling, Upload, csv_uploads, frame_from_csv
from connector.crm.salesforce.describe import FieldInfo, frame_from_records
from connector.crm.salesforce.write import task_rows
from connector.errors import CrmError


def _info(name: str, type_: str) -> FieldInfo:
    return FieldInfo(name, type_, True, False, (), None)


def test_ingest_csv_sets_null_by_na_and_leaves_absent_fields_empty() -> None:
    rows = [
        {"Id": "001A", "Score__c": None, "Due__c": date(2026, 3, 1), "Done__c": True},
        {"Id": "001B", "Name": "", "Score__c": 4.5},
    ]
    (upload,) = csv_uploads(rows, 10_000)
    assert upload.records == 2
    assert list(csv.reader(io.StringIO(_text(upload)))) == [
        ["Id", "Score__c", "Due__c", "Done__c", "Name"],
        ["001A", "#N/A", "2026-03-01", "true", ""],
        ["001B", "4.5", "", "", "#N/A"],
    ]


def test_ingest_csv_is_split_below_the_upload_limit_each_with_the_header() -> None:
    rows = [{"Id": f"001{n:03d}", "Description": "説明" * 10} for n in range(10)]
    uploads = [_text(upload) for upload in csv_uploads(rows, 300)]
    assert len(uploads) > 1
    assert all(len(upload.encode()) <= 300 for upload in uploads)
    assert all(upload.startswith("Id,Description\n") for upload in uploads)
    ids = [r["Id"] for u in uploads for r in csv.DictReader(io.StringIO(u))]
    assert ids == [row["Id"] for row in rows]


def test_tasks_are_written_to_csv_one_row_at_a_time_under_a_header_made_first() -> None:
    """200,000 tasks' rows are made as the CSV is written, not held as dicts beside it:
    the header comes first (Type and WhoId only if a task has them), the rows once."""

    def task(n: int, **extra: Any) -> TaskIntent:
        due = date(2026, 12, 1)
        return TaskIntent(
            f"k{n}", "r", "001A", "Acme", "005A", "s", "d", due, "High", "Open", **extra
        )

    intents = [task(0), task(1, contact_id="003A")]
    header, rows = task_rows(TaskMapping(), intents)
    (upload,) = csv_uploads(rows, 10_000, header)

    assert header[0] == "CS_Action_Key__c"
    assert "WhoId" in header
    assert "Type" not in header
    parsed = list(csv.DictReader(io.StringIO(_text(upload))))
    assert [row["CS_Action_Key__c"] for row in parsed] == ["k0", "k1"]
    assert [row["WhoId"] for row in parsed] == ["", "003A"]  # left as it is on the first
    assert list(rows) == []  # read once, as the CSV was written


def test_a_result_set_is_typed_as_the_rest_records_are() -> None:
    columns = {
        "id": ("Id", _info("Id", "id")),
        "arr": ("ARR__c", _info("ARR__c", "currency")),
        "seats": ("Seats__c", _info("Seats__c", "int")),
        "active": ("Active__c", _info("Active__c", "boolean")),
        "start": ("Start__c", _info("Start__c", "date")),
        "seen": ("LastSeen__c", _info("LastSeen__c", "datetime")),
        "stamp": ("SystemModstamp", _info("SystemModstamp", "string")),
        "owner": ("Owner.Email", _info("Email", "email")),
    }
    text = (
        '"Id","ARR__c","Seats__c","Active__c","Start__c","LastSeen__c","SystemModstamp",'
        '"Owner.Email"\n'
        '"001A","1200.5","3","true","2026-01-02","2026-01-02T03:04:05.000Z",'
        '"2026-01-02T03:04:05.000Z","a@example.com"\n'
        '"001B","","","false","","","2026-01-02T03:04:05.000Z",""\n'
    )
    records: list[dict[str, Any]] = [
        {
            "Id": "001A",
            "ARR__c": 1200.5,
            "Seats__c": 3,
            "Active__c": True,
            "Start__c": "2026-01-02",
            "LastSeen__c": "2026-01-02T03:04:05.000+0000",
            "SystemModstamp": "2026-01-02T03:04:05.000+0000",
            "Owner": {"Email": "a@example.com"},
        },
        {
            "Id": "001B",
            "ARR__c": None,
            "Seats__c": None,
            "Active__c": False,
            "Start__c": None,
            "LastSeen__c": None,
            "SystemModstamp": "2026-01-02T03:04:05.000+0000",
            "Owner": None,
        },
    ]
    by_bulk = frame_from_csv(text.encode(), columns)
    assert_frame_equal(by_bulk, frame_from_records(records, columns))
    assert by_bulk["seen"][0] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_an_empty_result_set_has_the_columns_and_no_rows() -> None:
    frame = frame_from_csv(b"", {"id": ("Id", _info("Id", "id"))})
    assert frame.schema == pl.Schema({"id": pl.String})
    assert frame.height == 0


def test_a_job_is_asked_at_once_then_at_doubling_intervals_until_it_ends() -> None:
    states = iter(["UploadComplete", "InProgress", "InProgress", "InProgress", "JobComplete"])
    slept: list[float] = []
    polling = Polling(first=0.5, most=1.5, sleep=slept.append, clock=lambda: 0.0)
    info = polling.until_ended(lambda: {"state": next(states)})
    assert info == {"state": "JobComplete"}
    assert slept == [0.5, 1.0, 1.5, 1.5]


def test_an_ingest_job_is_next_asked_when_the_rest_should_be_done_at_its_pace() -> None:
    """10,000 records at 1,000 a second: the second answer (500 done after 0.5 s) says the
    rest takes 9.5 s, so the third question comes then, not after 1 + 2 + 4 + 8 s."""
    now = [0.0]

    def job() -> dict[str, Any]:
        done = min(10_000, int(now[0] * 1_000))
        return {
            "state": "JobComplete" if done == 10_000 else "InProgress",
            "numberRecordsProcessed": done,
        }

    def sleep(seconds: float) -> None:
        now[0] += seconds

    polling = Polling(first=0.5, most=30, sleep=sleep, clock=lambda: now[0])
    assert polling.until_ended(job, total=10_000)["state"] == "JobComplete"
    assert now[0] == 10.0  # doubling alone: 15.5


def test_an_upload_counts_records_not_lines() -> None:
    (upload,) = csv_uploads([{"Id": "001A", "Description": "two\nlines"}, {"Id": "001B"}], 10_000)
    assert upload.records == 2
    assert _text(upload).count("\n") == 4


def test_an_upload_is_held_once_while_it_is_written() -> None:
    """200,000 tasks are ~130 MB of CSV: written straight into the bytes that are sent,
    not kept as lines, then joined, then encoded (three copies at the peak)."""
    rows = (
        {"Id": f"00T{n:015d}", "Description": "利用状況を確認してください。" * 20}
        for n in range(5_000)
    )
    tracemalloc.start()
    try:
        (upload,) = csv_uploads(rows, 10**9, ["Id", "Description"])
        size = upload.csv.getbuffer().nbytes
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size > 5_000 * 600
    assert peak < 1.3 * size


def _text(upload: Upload) -> str:
    return upload.csv.getvalue().decode()


def test_a_job_that_never_ends_is_given_up_at_the_timeout() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    polling = Polling(first=1, most=1, timeout=3, sleep=sleep, clock=lambda: now[0])
    assert polling.until_ended(lambda: {"state": "InProgress"}) == {"state": "InProgress"}
    assert now[0] == 4


def test_a_result_set_without_a_selected_column_is_an_error_not_nulls() -> None:
    with pytest.raises(CrmError, match=r"no column Owner\.Email"):
        frame_from_csv(b'"Id"\n"001A"\n', {"owner": ("Owner.Email", _info("Email", "email"))})
