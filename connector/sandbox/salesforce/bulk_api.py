"""The Bulk API 2.0 resources under /services/data/vXX.X/jobs, as werkzeug routes: JSON job
info, CSV job data in, CSV results out with `Sforce-Locator` and `Sforce-NumberOfRecords`."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from connector.sandbox.salesforce.bulk import BulkJobs
from connector.sandbox.salesforce.composite import Collection, Write
from connector.sandbox.salesforce.errors import SalesforceError
from connector.sandbox.salesforce.org import SandboxOrg
from connector.sandbox.salesforce.schema import ObjectSchema, find_object
from connector.sandbox.salesforce.values import format_datetime

_CSV = "text/csv; charset=UTF-8"
_INGEST_RESULTS = ("successfulresults", "failedresults", "unprocessedrecords")


class BulkApi:
    """Routes and handlers of the jobs resources, on `org`."""

    def __init__(self, org: SandboxOrg) -> None:
        self.org = org

    def rules(self, api: str) -> list[Rule]:
        jobs = f"{api}/jobs"
        return [
            Rule(f"{jobs}/query", methods=["POST"], endpoint=self._create_query),
            Rule(f"{jobs}/query/<job_id>", methods=["GET", "PATCH"], endpoint=self._query_job),
            Rule(f"{jobs}/query/<job_id>/results", methods=["GET"], endpoint=self._results),
            Rule(f"{jobs}/ingest", methods=["POST"], endpoint=self._create_ingest),
            Rule(f"{jobs}/ingest/<job_id>", methods=["GET", "PATCH"], endpoint=self._ingest),
            Rule(f"{jobs}/ingest/<job_id>/batches", methods=["PUT"], endpoint=self._upload),
            Rule(f"{jobs}/ingest/<job_id>/<kind>", methods=["GET"], endpoint=self._outcomes),
        ]

    def _jobs(self, action: Callable[[BulkJobs], Any]) -> Any:
        return self.org.with_bulk_jobs(action)

    def _create_query(self, request: Request, version: str) -> Response:
        body, now = _body(request), format_datetime(self.org.now())

        def run_query(soql: str, deleted: bool) -> Any:
            return self.org.run_query(soql, version, deleted)

        return _json(self._jobs(lambda jobs: jobs.create_query(body, version, now, run_query)))

    def _query_job(self, request: Request, version: str, job_id: str) -> Response:
        if request.method == "GET":
            return _json(self._jobs(lambda jobs: jobs.query_info(job_id)))
        body = _body(request)
        return _json(self._jobs(lambda jobs: jobs.abort_query(job_id, body)))

    def _results(self, request: Request, version: str, job_id: str) -> Response:
        locator = request.args.get("locator") or None
        max_records = request.args.get("maxRecords")
        if max_records is not None and not max_records.isdigit():
            raise SalesforceError("INVALIDPARAMETER", "maxRecords must be a positive number")
        limit = int(max_records) if max_records is not None else None
        page = self._jobs(lambda jobs: jobs.results(job_id, locator, limit))
        response = Response(page.body, 200, content_type=_CSV)
        response.headers["Sforce-Locator"] = page.locator
        response.headers["Sforce-NumberOfRecords"] = str(page.records)
        return response

    def _create_ingest(self, request: Request, version: str) -> Response:
        body, now = _body(request), format_datetime(self.org.now())
        return _json(self._jobs(lambda jobs: jobs.create_ingest(body, version, now, self._object)))

    def _ingest(self, request: Request, version: str, job_id: str) -> Response:
        if request.method == "GET":
            return _json(self._jobs(lambda jobs: jobs.ingest_info(job_id)))
        body = _body(request)
        answer = self._jobs(lambda jobs: jobs.set_state(job_id, body))
        if answer["state"] == "UploadComplete":
            threading.Thread(target=self._process, args=(job_id,), daemon=True).start()
        return _json(answer)

    def _process(self, job_id: str) -> None:
        """Run an ingest job in the background, a step at a time under the org's lock."""
        while self._jobs(lambda jobs: jobs.process(job_id, self._object, self._write)):
            pass

    def _upload(self, request: Request, version: str, job_id: str) -> Response:
        data = request.get_data()
        self._jobs(lambda jobs: jobs.upload(job_id, data))
        return Response(status=201)

    def _outcomes(self, request: Request, version: str, job_id: str, kind: str) -> Response:
        if kind.lower() not in _INGEST_RESULTS:
            raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
        body = self._jobs(lambda jobs: jobs.ingest_results(job_id, kind.lower()))
        return Response(body, 200, content_type=_CSV)

    def _object(self, name: str) -> ObjectSchema:
        obj = find_object(self.org.schema, name)
        if obj is None:
            raise SalesforceError("INVALIDJOB", f"Unable to find object: {name}")
        return obj

    def _write(self, collection: Collection, write: Write) -> list[dict[str, Any]]:
        return self.org.write_collection(collection, write, report_created=True)


def _body(request: Request) -> Any:
    try:
        return json.loads(request.get_data())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SalesforceError("JSON_PARSER_ERROR", "The request body is not JSON.") from None


def _json(body: Any) -> Response:
    return Response(json.dumps(body), 200, content_type="application/json;charset=UTF-8")
