"""Salesforce through simple-salesforce: SOQL reads, sObject Collection writes, keyed upserts.

Every call goes through `_call`, the one place that retries (connection errors, timeouts,
5xx) and renews an expired session. Writes are safe to retry by construction: updates set
absolute values, and tasks are upserted by their External-ID key, so a replayed request can
never make a second task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import polars as pl
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from connector.config.mapping import Mapping, ObjectMapping, TaskMapping
from connector.crm.base import ApiUsage, MappingProblem, WriteFailure, WriteResult
from connector.crm.salesforce_auth import authenticate, can_refresh
from connector.crm.salesforce_describe import FieldInfo, ObjectDescription, frame_from_records
from connector.errors import ApiBudgetExhausted, CrmError
from connector.plan import ExistingTask, PlannedTask, RecordUpdate
from connector.settings import Settings

COLLECTION_LIMIT = 200  # records per sObject Collections call, Salesforce's maximum
KEYS_PER_QUERY = 500
TEXT_TYPES = {
    "string",
    "textarea",
    "picklist",
    "email",
    "phone",
    "url",
}  # keeps `IN (...)` well under SOQL's 100,000-character limit

T = TypeVar("T")


class _ApiSession(requests.Session):
    """A pooled session with a default timeout that counts every call and the org's budget."""

    def __init__(self, timeout: float, verify: str | bool, usage: ApiUsage) -> None:
        super().__init__()
        self.verify = verify
        self._timeout = timeout
        self._usage = usage

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        # requests lets REQUESTS_CA_BUNDLE override `session.verify`; a per-request value wins.
        kwargs.setdefault("verify", self.verify)
        response = super().request(method, url, *args, **kwargs)
        if "/services/data/" in str(url):
            self._usage.calls += 1
            self._record_limit(response.headers.get("Sforce-Limit-Info", ""))
        return response

    def _record_limit(self, header: str) -> None:
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            used, _, limit = value.partition("/")
            if name == "api-usage" and used.isdigit() and limit.isdigit():
                self._usage.used_today, self._usage.daily_limit = int(used), int(limit)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, requests.ConnectionError | requests.Timeout | SalesforceExpiredSession):
        return True
    return isinstance(exc, SalesforceGeneralError) and exc.status >= 500


class SalesforceAdapter:
    def __init__(self, settings: Settings, mapping: Mapping, *, max_attempts: int = 4) -> None:
        self.usage = ApiUsage()
        self._settings = settings
        self._version = mapping.api_version
        self._tasks: TaskMapping = mapping.tasks
        self._http = _ApiSession(settings.http_timeout_seconds, settings.verify, self.usage)
        self._max_attempts = max_attempts
        self._describes: dict[str, ObjectDescription] = {}
        self._sf = self._login()

    def _login(self) -> Salesforce:
        token = authenticate(self._settings, self._http)
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token.get_secret_value(),
            session=self._http,
            version=self._version,
        )

    def close(self) -> None:
        self._http.close()

    def record_url(self, sobject: str, record_id: str) -> str:
        return f"https://{self._sf.sf_instance}/lightning/r/{sobject}/{record_id}/view"

    # -- calls ---------------------------------------------------------------------------

    def _call(self, request: Callable[[Salesforce], T]) -> T:
        """`request`, retried; what still fails becomes a `CrmError` with Salesforce's code."""
        try:
            return self._retried(request)
        except SalesforceError as exc:
            raise _crm_error(exc) from None
        except requests.RequestException as exc:
            raise CrmError(
                f"cannot reach Salesforce ({type(exc).__name__}) after {self._max_attempts} "
                "attempts; check SALESFORCE_URL, the network and status.salesforce.com.",
                "UNREACHABLE",
            ) from None

    def _retried(self, request: Callable[[Salesforce], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self._max_attempts),
            wait=wait_exponential(multiplier=0.25, max=8),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                try:
                    return request(self._sf)
                except SalesforceExpiredSession:
                    if not can_refresh(self._settings):
                        raise CrmError(
                            "the Salesforce access token has expired; issue a new "
                            "SALESFORCE_ACCESS_TOKEN.",
                            "INVALID_SESSION_ID",
                        ) from None
                    self._sf = self._login()
                    raise
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _query(self, soql: str) -> Iterator[dict[str, Any]]:
        """Records of every page; each page is one retried call."""
        page: dict[str, Any] = self._call(lambda sf: sf.query(soql))
        yield from page["records"]
        while not page["done"]:
            page = self._query_more(page["nextRecordsUrl"])
            yield from page["records"]

    def _query_more(self, next_records_url: str) -> dict[str, Any]:
        return self._call(lambda sf: sf.query_more(next_records_url, identifier_is_url=True))

    def describe(self, sobject: str) -> ObjectDescription:
        if sobject not in self._describes:
            raw = self._call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
            self._describes[sobject] = ObjectDescription.from_describe(raw)
        return self._describes[sobject]

    # -- mapping checks ------------------------------------------------------------------

    def check_mapping(self, mapping: Mapping) -> list[MappingProblem]:
        problems: list[MappingProblem] = []
        for key, spec in mapping.objects().items():
            described = self._describe_or_report(spec.object, (key, "object"), problems)
            if described is None:
                continue
            for canonical, path in spec.fields.items():
                try:
                    self._resolve(spec.object, path)
                except CrmError as exc:
                    problems.append(MappingProblem((key, "fields", canonical), str(exc)))
        account = self._describe_or_report(mapping.account.object, ("account", "object"), [])
        if account is not None:
            for column, name in mapping.results.items():
                info = account.field(name)
                if info is None:
                    problems.append(MappingProblem(("results", column), account.missing(name)))
                elif not info.updateable:
                    problems.append(
                        MappingProblem(
                            ("results", column),
                            f"{account.name}.{info.name} is not updateable "
                            "by the integration user; grant Edit access in "
                            "its field-level security.",
                        )
                    )
        tasks = self._describe_or_report(mapping.tasks.object, ("tasks", "object"), problems)
        if tasks is not None:
            key_field = tasks.field(mapping.tasks.key_field)
            if key_field is None or not key_field.external_id:
                problems.append(
                    MappingProblem(
                        ("tasks", "key_field"),
                        f"{tasks.name}.{mapping.tasks.key_field} must exist "
                        "and be marked External ID (Unique) so task creates "
                        "are idempotent upserts.",
                    )
                )
        return problems

    def check_text_fields(self, sobject: str, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        described = self.describe(sobject)
        refused = {}
        for name in names:
            info = described.field(name)
            if info is None:
                refused[name] = described.missing(name)
            elif not info.updateable or info.type not in TEXT_TYPES:
                refused[name] = (
                    f"{described.name}.{info.name} ({info.type}), which is not an "
                    "updateable text or picklist field."
                )
        return refused

    def api_versions(self) -> list[str]:
        """The REST API versions the org serves (GET /services/data)."""

        def list_versions(sf: Salesforce) -> Any:
            response = sf.session.get(
                sf.base_url.split("/services/data/")[0] + "/services/data/", headers=sf.headers
            )
            response.raise_for_status()
            return response.json()

        return [str(version["version"]) for version in self._call(list_versions)]

    def limits(self) -> dict[str, Any]:
        return dict(self._call(lambda sf: sf.limits()))

    def create_custom_field(self, full_name: str, metadata: dict[str, Any]) -> None:
        """Create a field through the Tooling API (what Setup → New Field does)."""
        body = {"FullName": full_name, "Metadata": metadata}
        self._call(lambda sf: sf.toolingexecute("sobjects/CustomField", method="POST", data=body))
        self._describes.pop(full_name.split(".")[0], None)  # describe must see the new field

    def _describe_or_report(
        self, sobject: str, loc: tuple[str, ...], problems: list[MappingProblem]
    ) -> ObjectDescription | None:
        try:
            return self.describe(sobject)
        except CrmError as exc:
            if exc.status != 404:
                raise
            problems.append(
                MappingProblem(
                    loc,
                    f"Salesforce has no object '{sobject}' (or the "
                    "integration user cannot see it).",
                )
            )
            return None

    def _resolve(self, sobject: str, path: str) -> tuple[str, FieldInfo]:
        """`Owner.Email` → ("Owner.Email" in Salesforce's casing, the User.Email field)."""
        described = self.describe(sobject)
        relationship, _, name = path.rpartition(".")
        if not relationship:
            info = described.field(name)
            if info is None:
                raise CrmError(described.missing(name))
            return info.name, info
        reference = described.relationship(relationship)
        if reference is None or not reference.reference_to:
            raise CrmError(
                f"{described.name} has no relationship '{relationship}'; use the "
                "relationship name (Owner, Account, CSM__r), not the Id field."
            )
        parent = self.describe(reference.reference_to[0])
        info = parent.field(name)
        if info is None:
            raise CrmError(parent.missing(name))
        return f"{reference.relationship_name}.{info.name}", info

    # -- reads ---------------------------------------------------------------------------

    def read(self, spec: ObjectMapping, extra_fields: dict[str, str]) -> pl.DataFrame:
        fields = {**spec.fields, **extra_fields}
        resolved = {
            canonical: self._resolve(spec.object, path) for canonical, path in fields.items()
        }
        select = ", ".join(dict.fromkeys(path for path, _ in resolved.values()))
        # Object, fields and filter come from the validated mapping, not from records.
        soql = f"SELECT {select} FROM {spec.object}"  # noqa: S608
        if spec.where:
            soql += f" WHERE {spec.where}"
        soql += " ORDER BY Id"
        return frame_from_records(self._query(soql), resolved)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, ExistingTask]:
        key_field = self._tasks.key_field
        found: dict[str, ExistingTask] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = ", ".join(_soql_string(k) for k in keys[start : start + KEYS_PER_QUERY])
            for task in self._tasks_where(f"{key_field} IN ({chunk})"):
                found[task.key] = task
        return found

    def recent_tasks(self, rule_ids: Sequence[str], closed_since: date) -> list[ExistingTask]:
        if not rule_ids:
            return []
        key_field = self._tasks.key_field
        prefixes = " OR ".join(f"{key_field} LIKE {_soql_string(r + ':%')}" for r in rule_ids)
        since = f"{closed_since.isoformat()}T00:00:00Z"
        tasks = self._tasks_where(
            f"({prefixes}) AND (IsClosed = false OR CompletedDateTime >= {since})"
        )
        # LIKE treats '_' as a wildcard: keep only the exact rule prefixes
        return [t for t in tasks if t.rule_and_account[0] in set(rule_ids)]

    def _tasks_where(self, condition: str) -> list[ExistingTask]:
        key_field = self._tasks.key_field
        # values are escaped by _soql_string; object and field come from the mapping
        soql = (
            f"SELECT Id, {key_field}, IsClosed, CompletedDateTime "  # noqa: S608
            f"FROM {self._tasks.object} WHERE {condition}"
        )
        return [
            ExistingTask(
                record[key_field],
                record["Id"],
                bool(record["IsClosed"]),
                _date_of(record.get("CompletedDateTime")),
            )
            for record in self._query(soql)
        ]

    # -- writes --------------------------------------------------------------------------

    def update_records(self, sobject: str, updates: Sequence[RecordUpdate]) -> WriteResult:
        result = WriteResult()
        for start in range(0, len(updates), COLLECTION_LIMIT):
            chunk = updates[start : start + COLLECTION_LIMIT]
            records = [
                {
                    "attributes": {"type": sobject},
                    "Id": u.record_id,
                    **{f: _json_value(v) for f, v in u.values().items()},
                }
                for u in chunk
            ]
            outcomes = self._collection("composite/sobjects", records)
            for update, outcome in zip(chunk, outcomes, strict=True):
                _tally(result, outcome, update.record_id, update.label)
        return result

    def create_tasks(self, tasks: Sequence[PlannedTask]) -> WriteResult:
        result = WriteResult()
        path = f"composite/sobjects/{self._tasks.object}/{self._tasks.key_field}"
        for start in range(0, len(tasks), COLLECTION_LIMIT):
            chunk = tasks[start : start + COLLECTION_LIMIT]
            records = [self._task_record(task) for task in chunk]
            outcomes = self._collection(path, records)
            for task, outcome in zip(chunk, outcomes, strict=True):
                _tally(result, outcome, task.key, f"{task.account_name}: {task.subject}")
        return result

    def _task_record(self, task: PlannedTask) -> dict[str, Any]:
        return {
            "attributes": {"type": self._tasks.object},
            self._tasks.key_field: task.key,
            "Subject": task.subject[:255],
            "Description": task.description,
            "ActivityDate": task.due_date.isoformat(),
            "Priority": task.priority,
            "Status": task.status,
            "OwnerId": task.assignee_id,
            "WhatId": task.account_id,
            **({"Type": task.task_type} if task.task_type else {}),
            **({"WhoId": task.contact_id} if task.contact_id else {}),
        }

    def _collection(self, path: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One sObject Collections PATCH; a refused request becomes a failure per record."""
        body = {"allOrNone": False, "records": records}
        try:
            outcomes = self._call(lambda sf: sf.restful(path, method="PATCH", json=body))
        except CrmError as exc:
            if exc.status != 400:
                raise  # not this batch's fault: stop the run rather than fail every record
            error = {"statusCode": exc.code, "message": str(exc)}
            return [{"success": False, "errors": [error]} for _ in records]
        if not isinstance(outcomes, list) or len(outcomes) != len(records):
            raise CrmError(
                f"Salesforce answered {path} with {len(outcomes or [])} results for "
                f"{len(records)} records; nothing can be matched back safely."
            )
        return outcomes


def _tally(result: WriteResult, outcome: dict[str, Any], record: str, label: str) -> None:
    if outcome.get("success"):
        result.written += 1
        return
    errors = outcome.get("errors") or [{}]
    first = errors[0]
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    result.failures.append(WriteFailure(record, label, code, str(first.get("message", ""))))


def _crm_error(exc: SalesforceError) -> CrmError:
    """Salesforce's error array (`[{"message", "errorCode"}]`) as our error type."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code, message = str(content[0].get("errorCode")), str(content[0].get("message"))
    else:
        code, message = f"HTTP_{exc.status}", str(content)[:300]
    if code == "REQUEST_LIMIT_EXCEEDED":
        return ApiBudgetExhausted(
            f"{message} The org's daily API budget is used up; the next "
            "scheduled run will try again.",
            code,
            exc.status,
        )
    return CrmError(message, code, exc.status)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _date_of(timestamp: str | None) -> date | None:
    """Salesforce datetimes ('2026-11-20T09:30:00.000+0000') → their UTC date."""
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z").date() if timestamp else None


def _soql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
