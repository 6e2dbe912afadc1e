"""Bulk API 2.0 for large reads and writes, through simple-salesforce's `bulk2` client.

A query that selects more records than SALESFORCE_BULK_READ_ABOVE (REST's first page says
how many) runs as a query job, its CSV result sets parsed straight into polars and typed as
the REST path types them; more records to write than SALESFORCE_BULK_WRITE_ABOVE go in one
ingest job. Each job step is one `SalesforceClient.call`: counted, retried, its session
renewed, stopped by the budget. A job the org refuses, fails or aborts is logged and its
work done by REST: the whole read, or the records the job did not settle.
"""

from __future__ import annotations

import csv
import http
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, TypeVar

import polars as pl
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import JobState, Operation, SFBulk2Handler, _Bulk2Client
from simple_salesforce.exceptions import SalesforceBulkV2LoadError
from simple_salesforce.util import call_salesforce

from connector.crm.protocol import TASK_ID_SCHEMA
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.csv_parts import parsed_in_parts
from connector.crm.salesforce.describe import FieldInfo, frame_from_records
from connector.errors import CrmError
from connector.logs import event

log = logging.getLogger("connector.crm.salesforce")

T = TypeVar("T")
Columns = Mapping[str, tuple[str, FieldInfo]]  # canonical → (SOQL path, field)

RESULT_SET = 50_000  # records per query result set (maxRecords): one call each
RECEIVED_PIECE = 1024 * 1024  # bytes of a result set read at a time
NULL = "#N/A"  # an ingest cell that sets null; an empty cell leaves the field as it is
UPLOAD_LIMIT = 100 * 1024 * 1024  # bytes of CSV per ingest job, Salesforce's maximum
# an ingest job's calls: create, upload, close, the successful and failed results, and the
# polls of a job that takes half a minute (at once, then 0.5 s doubling: 7 polls)
INGEST_JOB_CALLS = 5 + 7
_REFUSED = (400, 404, 405, 409)  # the org will not run this job: do it by REST instead
_TERMINAL = (JobState.job_complete, JobState.failed, JobState.aborted)
_WIRE_DATETIME = "%Y-%m-%dT%H:%M:%S%.f%z"


# -- reads -----------------------------------------------------------------------------------


def read_frame(
    client: SalesforceClient,
    soql: str,
    columns: Columns,
    *,
    include_deleted: bool = False,
    expected: int | None = None,
) -> pl.DataFrame:
    """`soql`'s records as canonical typed columns: by REST, or by a query job when there
    are more than the threshold. `expected` (how many the query is known to read: all the
    object holds, or the changed records a read of changes found) above the threshold goes
    straight to the job; otherwise REST's first page says (and is not used when the job
    runs)."""
    if expected is None or expected <= client.bulk_read_above:
        page = client.first_page(soql, include_deleted=include_deleted)
        if page["totalSize"] <= client.bulk_read_above:
            return frame_from_records(client.records_from(page), columns)
    frame = query_frame(client, soql, columns, include_deleted=include_deleted)
    if frame is None:
        return frame_from_records(client.query(soql, include_deleted=include_deleted), columns)
    return frame


def query_frame(
    client: SalesforceClient, soql: str, columns: Columns, *, include_deleted: bool = False
) -> pl.DataFrame | None:
    """A query job's results as a frame; None when the org refused, failed or aborted it."""
    operation = Operation.query_all if include_deleted else Operation.query
    job = _refusable(client, lambda jobs: jobs.create_job(operation, query=soql), soql, query=True)
    if job is None or not _completed(client, str(job["id"]), soql, query=True):
        return None
    job_id, sets, locator = str(job["id"]), [], ""
    while True:
        content, locator = _result_set(client, job_id, locator)
        with client.framing:  # one read's result set at a time
            sets.append(frame_from_csv(content, columns))
        del content  # parsed: not held while the next set is received
        if not locator:
            return pl.concat(sets)


def _result_set(client: SalesforceClient, job_id: str, locator: str) -> tuple[bytes, str]:
    """One result set's CSV (one call) and the locator of the next ("" after the last)."""
    return client.call(lambda sf: _query_results(_jobs(sf), job_id, locator))


def _query_results(jobs: _Bulk2Client, job_id: str, locator: str) -> tuple[bytes, str]:
    """One result set's CSV and the locator of the next ("" after the last): the request of
    simple-salesforce's `get_query_results`, its answer kept as bytes. That one decodes
    them to text, copies the text without NUL characters, and polars would need it encoded
    again: at 100,000 accounts, four copies of each 50,000-record set where this holds one."""
    url = jobs._construct_request_url(job_id, True) + "/results"
    params = {"maxRecords": RESULT_SET, **({"locator": locator} if locator else {})}
    headers = jobs._get_headers(jobs.JSON_CONTENT_TYPE, jobs.CSV_CONTENT_TYPE)
    answer = call_salesforce(
        url=url, method="GET", session=jobs.session, headers=headers, params=params, stream=True
    )
    following = answer.headers.get("Sforce-Locator", "")
    content = _received(answer)
    if b"\0" in content:  # dropped, as simple-salesforce drops them: CSV readers stop at one
        content = content.replace(b"\0", b"")
    return content, "" if following == "null" else following


def _received(answer: requests.Response) -> bytes:
    """The answer's body, received into one growing buffer: `Response.content` joins a list
    of its 10 KB pieces, so a result set was held twice while it arrived."""
    body = io.BytesIO()
    for piece in answer.iter_content(RECEIVED_PIECE):
        body.write(piece)
    return body.getvalue()  # the buffer itself (CPython's BytesIO), not a copy of it


def frame_from_csv(content: bytes, columns: Columns) -> pl.DataFrame:
    """A result set's CSV (UTF-8) as canonical columns, typed as `frame_from_records` types
    REST's JSON: Bulk writes null as an empty value and date-times with a Z for +0000."""
    schema = {canonical: info.dtype for canonical, (_, info) in columns.items()}
    if not content.strip():
        return pl.DataFrame(schema=schema)
    raw = pl.read_csv(content, infer_schema=False)
    header = {name.lower(): name for name in raw.columns}
    missing = [path for path, _ in columns.values() if path.lower() not in header]
    if missing:
        raise CrmError(f"Salesforce's Bulk API results have no column {missing[0]}.")
    return raw.select(
        _typed(pl.col(header[path.lower()]), info).alias(canonical)
        for canonical, (path, info) in columns.items()
    )


def _typed(text: pl.Expr, info: FieldInfo) -> pl.Expr:
    value = pl.when(text != "").then(text).cast(pl.String)
    if info.type == "datetime" or info.name.lower() == "systemmodstamp":
        value = value.str.replace(r"Z$", "+0000")  # REST's wire form, which stamps compare in
    dtype = info.dtype
    if dtype == pl.Boolean:
        return value == "true"
    if dtype == pl.Date:
        return value.str.to_date("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return value.str.to_datetime(_WIRE_DATETIME, time_unit="ms", time_zone="UTC")
    return value.cast(dtype, strict=False)


# -- writes ----------------------------------------------------------------------------------


@dataclass
class Settled:
    """What an ingest job did with each record, by the record's key (Id or External ID):
    the written ones as columns (`TASK_ID_SCHEMA`: key, record_id), as their results came
    (a first run writes 300,000), the few refused ones by key."""

    written: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TASK_ID_SCHEMA))
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # key → (code, message)


def ingest(
    client: SalesforceClient,
    sobject: str,
    rows: Iterable[Mapping[str, Any]],
    key_field: str,
    *,
    upsert: bool,
    header: Sequence[str] | None = None,
) -> Settled:
    """Update (or upsert by `key_field`) `rows` in as few ingest jobs as the upload limit
    allows. A record neither written nor failed was not processed: a job was refused, failed
    or aborted, and no later job is tried. `header`: see `csv_uploads`."""
    settled = Settled()
    for upload in csv_uploads(rows, UPLOAD_LIMIT, header):
        if not _run_job(client, sobject, upload, key_field, upsert, settled):
            break
    return settled


def _run_job(
    client: SalesforceClient,
    sobject: str,
    upload: Upload,
    key_field: str,
    upsert: bool,
    into: Settled,
) -> bool:
    """One ingest job of `upload`, its results added to `into`; False unless it completed."""
    operation = Operation.upsert if upsert else Operation.update
    external_id = key_field if upsert else None
    job = _refusable(
        client,
        lambda jobs: jobs.create_job(operation, external_id_field=external_id),
        sobject,
        query=False,
    )
    if job is None:
        return False
    job_id = str(job["id"])
    uploaded = _refusable(
        client, lambda jobs: _upload(jobs, job_id, upload.csv), sobject, query=False
    )
    upload.csv.close()  # sent or refused, its buffer is let go before the results come
    closed = uploaded and _refusable(
        client, lambda jobs: jobs.close_job(job_id), sobject, query=False
    )
    if not closed:
        return False  # the job stays Open and runs nothing
    completed = _completed(client, job_id, sobject, query=False, total=upload.records)
    written = _results(client, job_id, "successfulResults", [key_field, "sf__Id"])
    ids = written.select(pl.col(key_field).alias("key"), pl.col("sf__Id").alias("record_id"))
    into.written = pl.concat([into.written, ids])
    failed = _results(client, job_id, "failedResults", [key_field, "sf__Error"])
    for key, error in failed.iter_rows():
        code, _, rest = error.partition(":")
        message = rest.removesuffix(" --").rpartition(":")[0] or rest
        into.failed[key] = (code, message)
    return completed


def _upload(jobs: _Bulk2Client, job_id: str, body: io.BytesIO) -> bool:
    """The job's CSV, sent from its buffer. simple-salesforce's `upload_job_data` (whose
    request this is) takes text and encodes it twice, for its size and then its body: at
    200,000 tasks, a 100 MB upload was held three times over."""
    body.seek(0)  # from its start again on a retry
    url = jobs._construct_request_url(job_id, False) + "/batches"
    headers = jobs._get_headers(jobs.CSV_CONTENT_TYPE, jobs.JSON_CONTENT_TYPE)
    result = call_salesforce(
        url=url, method="PUT", session=jobs.session, headers=headers, data=body
    )
    if result.status_code != http.HTTPStatus.CREATED:
        raise SalesforceBulkV2LoadError(
            f"Failed to upload job data. Error Code {result.status_code}. "
            f"Response content: {result.content.decode(errors='replace')}"
        )
    return True


class Upload(NamedTuple):
    """One ingest job's CSV in UTF-8, and how many records it holds (a value may span
    lines). Written once into its buffer and sent from it: no lines, joined text or encoded
    copy of it beside."""

    csv: io.BytesIO
    records: int


def csv_uploads(
    rows: Iterable[Mapping[str, Any]], limit: int, header: Sequence[str] | None = None
) -> Iterator[Upload]:
    """Rows as ingest CSV of at most `limit` UTF-8 bytes each, every one with the header
    of all rows (a field a row leaves out stays as it is): null as #N/A, dates ISO,
    booleans lower-case. Given the `header`, rows are read once, one at a time: 200,000
    tasks need not be held as dicts beside their CSV."""
    if header is None:
        rows = list(rows)
        header = list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: Iterable[str]) -> bytes:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue().encode()

    first = line(header)

    def started() -> io.BytesIO:
        body = io.BytesIO()
        body.write(first)
        return body

    body, records = started(), 0
    for row in rows:
        data = line(_cell(row[name]) if name in row else "" for name in header)
        if records and body.tell() + len(data) > limit:
            yield Upload(body, records)
            body, records = started(), 0
        body.write(data)
        records += 1
    if records:
        yield Upload(body, records)


def _cell(value: Any) -> str:
    if value is None or value == "":
        return NULL  # REST saves empty text as null too
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _results(client: SalesforceClient, job_id: str, kind: str, columns: list[str]) -> pl.DataFrame:
    """`columns` of a job's results, as text. The CSV repeats every field uploaded (200,000
    tasks' descriptions, ~90 MB): it is parsed a part at a time as it arrives
    (`parsed_in_parts`), never held whole, nor read as dicts or decoded to text as
    simple-salesforce's `get_ingest_results` does."""
    return client.call(lambda sf: _ingest_results(_jobs(sf), job_id, kind, columns))


def _ingest_results(jobs: _Bulk2Client, job_id: str, kind: str, columns: list[str]) -> pl.DataFrame:
    """The request of simple-salesforce's `get_ingest_results`, its answer's `columns`."""
    url = jobs._construct_request_url(job_id, False) + "/" + kind
    headers = jobs._get_headers(jobs.JSON_CONTENT_TYPE, jobs.CSV_CONTENT_TYPE)
    answer = call_salesforce(
        url=url, method="GET", session=jobs.session, headers=headers, stream=True
    )
    return parsed_in_parts(answer.iter_content(RECEIVED_PIECE), columns)


# -- jobs ------------------------------------------------------------------------------------


def _jobs(sf: Salesforce, sobject: str = "") -> _Bulk2Client:
    """simple-salesforce's Bulk 2.0 client on `sf`'s current session (renewed ones too)."""
    handler = SFBulk2Handler(sf.session_id, sf.bulk2_url, session=sf.session)
    return _Bulk2Client(sobject, handler.bulk2_url, handler.headers, handler.session)


def _refusable(
    client: SalesforceClient, step: Callable[[_Bulk2Client], T], what: str, *, query: bool
) -> T | None:
    """`step`'s answer, or None (logged) when the org refuses it as a request; `what`: the
    query, or the object of an ingest job."""
    try:
        return client.call(lambda sf: step(_jobs(sf, "" if query else what)))
    except CrmError as exc:
        if exc.status not in _REFUSED:
            raise
        event(log, "bulk job refused, using REST", level=logging.WARNING, job=what, error=str(exc))
        return None


@dataclass
class Polling:
    """How often a job is asked whether it has ended: at once, then after `first` seconds,
    doubling up to `most`, for at most `timeout`; a wait between questions, not a retry.

    An ingest job of `total` records says how many it has processed: once that has moved,
    the next question waits for the time the rest should take at the pace so far (still
    between `first` and `most`). Doubling alone overshoots the end of a long job by up to
    `most`: 5 s on average, twice a first run at 100,000 accounts."""

    first: float = 0.5
    most: float = 10.0
    timeout: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def until_ended(self, ask: Callable[[], dict[str, Any]], total: int = 0) -> dict[str, Any]:
        """`ask`'s last answer: the job's info once its state is final (or time is up)."""
        deadline, delay = self.clock() + self.timeout, 0.0
        first_seen: tuple[float, int] | None = None  # when, and how many were processed
        while True:
            info = ask()
            now = self.clock()
            if info["state"] in _TERMINAL or now > deadline:
                return info
            delay = min(self.most, max(self.first, delay * 2))
            processed = int(info.get("numberRecordsProcessed") or 0)
            if first_seen is None:
                first_seen = (now, processed)
            elif total and processed > first_seen[1]:
                pace = (processed - first_seen[1]) / (now - first_seen[0])
                delay = min(self.most, max(self.first, (total - processed) / pace))
            self.sleep(delay)


POLLING = Polling()


def _completed(
    client: SalesforceClient, job_id: str, what: str, *, query: bool, total: int = 0
) -> bool:
    """Poll the job (of `total` records, if an ingest) until it ends; False (logged) unless
    it completed."""
    info = POLLING.until_ended(
        lambda: client.call(lambda sf: _jobs(sf).get_job(job_id, query)), total
    )
    state = info["state"]
    if state == JobState.job_complete:
        return True
    event(
        log,
        "bulk job did not complete, using REST",
        level=logging.WARNING,
        job_id=job_id,
        job=what,
        state=state,
        error=info.get("errorMessage"),
    )
    if state not in _TERMINAL:  # given up on: stop it, unless it ended meanwhile
        _refusable(client, lambda jobs: jobs.abort_job(job_id, query), what, query=query)
    return False
