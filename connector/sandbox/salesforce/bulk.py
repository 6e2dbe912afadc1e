"""Bulk API 2.0 jobs in the sandbox org: query jobs answered as CSV a locator's set at a
time, and ingest jobs whose CSV rows go through the same parsing, validation and field-level
security as an sObject Collections call.

A query job runs its SOQL when it is created (UploadComplete) and reports JobComplete when
first asked; an ingest job runs its rows once its upload is marked UploadComplete, in the
background and a step at a time (InProgress), as Salesforce does. A job a test arranged to
fail (`fail_next`) ends Failed or Aborted instead, its rows unprocessed
from `processed` on. Not thread-safe on its own: `SandboxOrg` serialises access.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.salesforce.composite import Collection, Write, create, update, upsert_by
from connector.sandbox.salesforce.errors import SalesforceError
from connector.sandbox.salesforce.faults import JobFault
from connector.sandbox.salesforce.ids import make_id
from connector.sandbox.salesforce.records import external_id_field
from connector.sandbox.salesforce.schema import ObjectSchema
from connector.sandbox.salesforce.soql import Column, Query
from connector.sandbox.salesforce.values import FieldTypeError, prepare

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^"}
DELIMITERS["BACKQUOTE"] = "`"
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
NULL = "#N/A"  # an ingest cell that sets the field to null; an empty cell leaves it alone
INGEST_OPERATIONS = ("insert", "update", "upsert")
QUERY_OPERATIONS = ("query", "queryAll")
TERMINAL = ("JobComplete", "Failed", "Aborted")
KEPT_JOBS = 50  # the newest jobs, with their data and results; older ones are gone
STEP = 200  # ingest rows written at a time, between which the org answers other requests

# (SOQL, include deleted) → the query and its records in REST shape
RunQuery = Callable[[str, bool], tuple[Query, list[dict[str, Any]]]]
# (collection, write) → one result per record, as a Collections call answers
RunWrite = Callable[[Collection, Write], list[dict[str, Any]]]


@dataclass
class Job:
    id: str
    operation: str
    sobject: str
    api_version: str
    created: str
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    external_id: str | None = None
    error: str | None = None
    fault: JobFault | None = None
    header: list[str] = field(default_factory=list)
    cursor: int = 0  # the next ingest row to write
    rows: list[list[str]] = field(default_factory=list)  # a query's results or an upload
    successful: list[list[str]] = field(default_factory=list)  # sf__Id, sf__Created, row
    failed: list[list[str]] = field(default_factory=list)  # sf__Id, sf__Error, row
    unprocessed: list[list[str]] = field(default_factory=list)

    @property
    def is_query(self) -> bool:
        return self.operation in QUERY_OPERATIONS

    def info(self) -> dict[str, Any]:
        """The job info resource (create, GET, PATCH answers)."""
        kind = "query" if self.is_query else "ingest"
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": "0058d0000000001AAA",
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "jobType": "V2Query" if self.is_query else "V2Ingest",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
            "numberRecordsProcessed": self._processed(),
            "retries": 0,
            "totalProcessingTime": 0,
        }
        if not self.is_query:
            body["contentUrl"] = f"services/data/v{self.api_version}/jobs/{kind}/{self.id}/batches"
            body["externalIdFieldName"] = self.external_id
            body["numberRecordsFailed"] = len(self.failed)
        if self.error is not None:
            body["errorMessage"] = self.error
        return body

    def _processed(self) -> int:
        if self.is_query:
            return len(self.rows) if self.state == "JobComplete" else 0
        return len(self.successful) + len(self.failed)


class BulkJobs:
    """Every Bulk API 2.0 job of the org, by Id."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._faults: list[JobFault] = []
        self._issued = 0

    def fail_next(self, fault: JobFault, times: int) -> None:
        self._faults.extend([fault] * times)

    def _fault_for(self, is_query: bool) -> JobFault | None:
        for index, fault in enumerate(self._faults):
            if fault.query == is_query:
                return self._faults.pop(index)
        return None

    def job(self, job_id: str, *, query: bool) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.is_query != query:
            raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
        return job

    # -- query jobs ------------------------------------------------------------------------

    def create_query(
        self, body: Any, api_version: str, now: str, run_query: RunQuery
    ) -> dict[str, Any]:
        spec = _object_body(body)
        operation = spec.get("operation")
        if operation not in QUERY_OPERATIONS:
            raise SalesforceError("INVALIDJOB", f"Invalid operation: {operation}")
        soql = spec.get("query")
        if not isinstance(soql, str) or not soql.strip():
            raise SalesforceError("INVALIDJOB", "A query is required for a query job.")
        query, records = run_query(soql, operation == "queryAll")
        job = self._new(operation, query.sobject.name, api_version, now, spec)
        job.header = [column_name(column) for column in query.columns]
        job.rows = [[_cell(record, column) for column in query.columns] for record in records]
        job.state = "UploadComplete"
        job.fault = self._fault_for(True)
        return job.info()

    def abort_query(self, job_id: str, body: Any) -> dict[str, Any]:
        job = self.job(job_id, query=True)
        state = _object_body(body).get("state")
        if state != "Aborted" or job.state in TERMINAL:
            raise SalesforceError(
                "INVALIDJOBSTATE", f"The job in state {job.state} cannot be set to {state}."
            )
        job.state, job.rows = "Aborted", []
        return job.info()

    def query_info(self, job_id: str) -> dict[str, Any]:
        job = self.job(job_id, query=True)
        if job.state == "UploadComplete":  # the first question after creation
            self._finish(job)
        return job.info()

    def results(self, job_id: str, locator: str | None, max_records: int | None) -> QueryPage:
        """One set of a complete query job's results, and the locator of the next."""
        job = self.job(job_id, query=True)
        if job.state != "JobComplete":
            raise SalesforceError(
                "INVALIDJOBSTATE", f"The job is in state {job.state}, not JobComplete.", 400
            )
        if max_records is not None and max_records < 1:
            raise SalesforceError("INVALIDPARAMETER", "maxRecords must be a positive number")
        start = _offset(locator, len(job.rows))
        end = min(len(job.rows), start + (max_records or len(job.rows) or 1))
        next_locator = _locator(end) if end < len(job.rows) else "null"
        body = _csv(job, [job.header, *job.rows[start:end]])
        return QueryPage(body, next_locator, end - start)

    # -- ingest jobs -----------------------------------------------------------------------

    def create_ingest(
        self, body: Any, api_version: str, now: str, obj: Callable[[str], ObjectSchema]
    ) -> dict[str, Any]:
        spec = _object_body(body)
        operation = spec.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise SalesforceError("INVALIDJOB", f"Invalid operation: {operation}")
        sobject = obj(str(spec.get("object") or ""))
        external_id = spec.get("externalIdFieldName")
        if operation == "upsert":
            if not isinstance(external_id, str):
                raise SalesforceError("INVALIDJOB", "An upsert job needs externalIdFieldName.")
            external_id = external_id_field(sobject, external_id).name
        job = self._new(operation, sobject.name, api_version, now, spec)
        job.external_id = external_id if operation == "upsert" else None
        job.fault = self._fault_for(False)
        return job.info()

    def upload(self, job_id: str, data: bytes) -> None:
        job = self.job(job_id, query=False)
        if job.state != "Open" or job.header:
            raise SalesforceError(
                "INVALIDJOBSTATE", "Job data can be uploaded only once, to an Open job."
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SalesforceError("INVALIDBATCH", "The CSV data is not UTF-8.") from None
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(job)))
        if not lines or not lines[0]:
            raise SalesforceError("INVALIDBATCH", "The CSV data has no header row.")
        job.header, job.rows = lines[0], [line for line in lines[1:] if line]

    def set_state(self, job_id: str, body: Any) -> dict[str, Any]:
        """Abort a job, or mark its upload complete: `process` then runs it, a step at a
        time, while the client asks for its state."""
        job = self.job(job_id, query=False)
        state = _object_body(body).get("state")
        if state == "Aborted" and job.state not in TERMINAL:
            job.state, job.unprocessed = "Aborted", job.rows[job.cursor :]
        elif state == "UploadComplete" and job.state == "Open":
            job.state = "UploadComplete"
        else:
            raise SalesforceError(
                "INVALIDJOBSTATE", f"The job in state {job.state} cannot be set to {state}."
            )
        return job.info()

    def process(self, job_id: str, obj: Callable[[str], ObjectSchema], run_write: RunWrite) -> bool:
        """Write the next `STEP` rows of an ingest job whose upload is complete; False once
        it has ended (or was aborted), True while rows are left."""
        job = self.job(job_id, query=False)
        if job.state == "UploadComplete":
            job.state = "InProgress"
            missing = [name for name in job.header if obj(job.sobject).field(name) is None]
            if missing:
                job.state = "Failed"
                job.error = f"InvalidBatch : Field name not found : {missing[0]}"
                job.unprocessed = list(job.rows)
                return False
        if job.state != "InProgress":
            return False
        stop = len(job.rows) if job.fault is None else min(job.fault.processed, len(job.rows))
        end = min(stop, job.cursor + STEP)
        self._ingest(job, job.rows[job.cursor : end], obj(job.sobject), run_write)
        job.cursor = end
        if end < stop:
            return True
        job.unprocessed = job.rows[stop:]
        if job.fault is None:
            job.state = "JobComplete"
        else:
            job.state, job.error = job.fault.state, job.fault.message
        return False

    def ingest_info(self, job_id: str) -> dict[str, Any]:
        return self.job(job_id, query=False).info()

    def ingest_results(self, job_id: str, kind: str) -> bytes:
        job = self.job(job_id, query=False)
        if kind == "successfulresults":
            return _csv(job, [["sf__Id", "sf__Created", *job.header], *job.successful])
        if kind == "failedresults":
            return _csv(job, [["sf__Id", "sf__Error", *job.header], *job.failed])
        return _csv(job, [job.header, *job.unprocessed])

    # -- running -------------------------------------------------------------------------

    def _new(
        self, operation: str, sobject: str, api_version: str, now: str, spec: dict[str, Any]
    ) -> Job:
        delimiter = str(spec.get("columnDelimiter") or "COMMA")
        line_ending = str(spec.get("lineEnding") or "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise SalesforceError("INVALIDJOB", "Unknown columnDelimiter or lineEnding.")
        self._issued += 1
        job_id = make_id("750", self._issued)
        job = Job(job_id, operation, sobject, api_version, now, delimiter, line_ending)
        self._jobs[job_id] = job
        while len(self._jobs) > KEPT_JOBS:  # Salesforce deletes old jobs; keep memory flat
            del self._jobs[next(iter(self._jobs))]
        return job

    def _finish(self, job: Job) -> None:
        if job.fault is None:
            job.state = "JobComplete"
        elif job.fault.state == "InProgress":
            job.state = "InProgress"  # never done: a stuck job, until someone aborts it
        else:
            job.state, job.error = job.fault.state, job.fault.message
            job.rows = []

    def _ingest(
        self, job: Job, rows: list[list[str]], obj: ObjectSchema, run_write: RunWrite
    ) -> None:
        prepared: list[tuple[int, dict[str, Any]]] = []
        for index, row in enumerate(rows):
            try:
                prepared.append((index, prepare(obj, _row_values(job.header, row))))
            except FieldTypeError as error:
                detail = f"INVALID_FIELD:{error}:{error.field.name} --"
                job.failed.append(["", detail, *row])
        write = {"insert": create, "update": update}.get(job.operation)
        collection = Collection(False, tuple((obj.name, values) for _, values in prepared))
        results = run_write(collection, write or upsert_by(job.external_id or ""))
        for (index, _), result in zip(prepared, results, strict=True):
            self._record(job, rows[index], result)

    def _record(self, job: Job, row: list[str], result: dict[str, Any]) -> None:
        if result["success"]:
            created = "true" if result.get("created") else "false"
            job.successful.append([result["id"], created, *row])
            return
        error = result["errors"][0]
        fields = ",".join(error.get("fields") or ())
        record_id = _row_values(job.header, row).get("Id") or ""
        job.failed.append(
            [str(record_id), f"{error['statusCode']}:{error['message']}:{fields} --", *row]
        )


@dataclass(frozen=True)
class QueryPage:
    body: bytes
    locator: str  # "null" after the last set
    records: int


def column_name(column: Column) -> str:
    """A query column's CSV header: `Owner.Email` for a parent's field."""
    parents = [ref.relationship_name or ref.name for ref in column.path[:-1]]
    return ".".join([*parents, column.field.name])


def _cell(record: dict[str, Any], column: Column) -> str:
    """A projected REST record's value as Bulk API 2.0 writes it: empty for null, booleans
    lower-case, date-times in UTC with a Z."""
    value: Any = record
    for reference in column.path[:-1]:
        value = value.get(reference.relationship_name or reference.name) if value else None
    value = value.get(column.field.name) if value else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if column.field.type == "datetime" and isinstance(value, str):
        return value.removesuffix("+0000") + "Z"
    return str(value)


def _row_values(header: Sequence[str], row: Sequence[str]) -> dict[str, Any]:
    """An ingest row's values: an empty cell is left out (not changed), #N/A is null."""
    return {
        name: None if cell == NULL else cell
        for name, cell in zip(header, row, strict=False)
        if cell != ""
    }


def _csv(job: Job, lines: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=_delimiter(job),
        lineterminator=LINE_ENDINGS[job.line_ending],
        quoting=csv.QUOTE_ALL,
    )
    writer.writerows(lines)
    return buffer.getvalue().encode("utf-8")


def _delimiter(job: Job) -> str:
    return DELIMITERS[job.delimiter]


def _locator(offset: int) -> str:
    return base64.b32encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str | None, total: int) -> int:
    if not locator:
        return 0
    try:
        offset = int(base64.b32decode(locator + "=" * (-len(locator) % 8)).decode())
    except ValueError:
        offset = -1
    if not 0 <= offset <= total:
        raise SalesforceError("INVALIDLOCATOR", f"Invalid locator: {locator}")
    return offset


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SalesforceError("JSON_PARSER_ERROR", "The request body must be a JSON object.")
    return body
