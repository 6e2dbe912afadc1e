"""The sandbox org: the one source of truth the REST app serves, the demo seeds and tests
assert on. Records, connected apps, the API call log and arranged faults live here, behind
one lock, because the HTTPS server answers each request on its own thread.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from connector.sandbox.salesforce.auth import (
    INTEGRATION_USER_ID,
    Grant,
    JwtClient,
    SecretClient,
    Sessions,
)
from connector.sandbox.salesforce.bulk import BulkJobs
from connector.sandbox.salesforce.composite import Collection, Write, run_collection
from connector.sandbox.salesforce.cursors import QueryCursors
from connector.sandbox.salesforce.errors import ErrorDetail, RecordRejected, SalesforceError
from connector.sandbox.salesforce.faults import Fault, FaultPlan, JobFault
from connector.sandbox.salesforce.field_access import ACCESS_OBJECTS, editable_fields, with_access
from connector.sandbox.salesforce.ids import make_id
from connector.sandbox.salesforce.records import RecordStore
from connector.sandbox.salesforce.schema import DEFAULT_SCHEMA, FieldSchema, ObjectSchema
from connector.sandbox.salesforce.soql import Query, parse_query
from connector.sandbox.salesforce.validation import ValidationRule
from connector.sandbox.salesforce.values import FieldTypeError, prepare

API_DAILY_LIMIT = 15000
T = TypeVar("T")


@dataclass(frozen=True)
class ApiCall:
    """One REST call served under /services/data; `records` counts a collection's records,
    `subject` names the object a SOQL query reads (for a benchmark's breakdown of calls)."""

    method: str
    path: str
    status: int
    records: int = 0
    subject: str = ""


class SandboxOrg:
    def __init__(
        self,
        schema: Mapping[str, ObjectSchema] = DEFAULT_SCHEMA,
        *,
        today: Callable[[], date] | None = None,
        now: Callable[[], datetime] | None = None,
        api_daily_limit: int = API_DAILY_LIMIT,
    ) -> None:
        """`today`: the org's date (the current time of day stamps records); `now`: the
        exact instant instead, whose date is then the org's date (a test's settable clock)."""
        self.schema = dict(schema)  # shared with the record store; custom fields extend it
        self.api_daily_limit = api_daily_limit
        self._instant = now
        self._clock = today or (
            (lambda: now().date()) if now is not None else (lambda: datetime.now(UTC).date())
        )
        self._lock = threading.RLock()
        self._store = RecordStore(self.schema, self._now)
        self._custom_fields: list[tuple[str, FieldSchema]] = []
        self._sessions = Sessions()
        self._faults = FaultPlan()
        self._cursors = QueryCursors()
        self._bulk = BulkJobs()
        self._calls: list[ApiCall] = []
        self._usage = (self.today(), 0)  # (day, calls served that day)

    def today(self) -> date:
        """The org's date: what TODAY means in SOQL and which day API usage counts against."""
        return self._clock()

    def now(self) -> datetime:
        """The org's clock, the one records are stamped by (and answers dated by)."""
        return self._now()

    def move_to(self, day: date) -> None:
        """From now on the org's date is `day`, at the current time of day: a benchmark's
        next day, whose records are stamped a day after the last ones."""
        if self._instant is not None:
            raise ValueError("this org's clock is a settable instant: set that instead")
        with self._lock:
            self._clock = lambda: day

    def _now(self) -> datetime:
        """The org's clock: today's date as the org sees it, at the current time of day."""
        if self._instant is not None:
            return self._instant()
        return datetime.combine(self.today(), datetime.now(UTC).timetz())

    # -- records -------------------------------------------------------------------------

    def insert(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Create a record as an API create would, returning its Id; RecordRejected (or
        SalesforceError for an unknown object or field) when the org refuses it."""
        with self._lock:
            obj = self._store.object(sobject)
            try:
                values = prepare(obj, fields)
            except FieldTypeError as error:
                raise RecordRejected(
                    ErrorDetail(
                        "INVALID_TYPE_ON_FIELD_IN_RECORD",
                        f"{error.field.label}: value not of required type: {error.value}",
                        (error.field.name,),
                    )
                ) from None
            return self._store.create(obj.name, values)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        """Copies of every record of `sobject`, in creation order, calculated fields included."""
        with self._lock:
            table = self._store.table(self._store.object(sobject).name)
            return [dict(record) for record in table.values()]

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        """A copy of one record; KeyError when there is none with that Id."""
        with self._lock:
            return dict(self._store.table(self._store.object(sobject).name)[record_id])

    def add_validation_rule(
        self,
        sobject: str,
        name: str,
        predicate: Callable[[Mapping[str, Any]], bool],
        message: str,
        field: str | None = None,
    ) -> None:
        """Refuse writes for which `predicate(record as it would be saved)` is True, with
        FIELD_CUSTOM_VALIDATION_EXCEPTION and `message`, as a custom validation rule does."""
        with self._lock:
            self._store.add_rule(sobject, ValidationRule(name, predicate, message, field))

    # -- REST operations (what SalesforceApp serves) ---------------------------------------

    def query(
        self, soql: str, *, batch_size: int, api_version: str, include_deleted: bool = False
    ) -> dict[str, Any]:
        """The first page of a query's results (queryAll's with `include_deleted`)."""
        with self._lock:
            query, store = parse_query(soql, self.schema), self._store
            rows = query.select(
                store,
                today=self.today(),
                include_deleted=include_deleted,
                ids_where=store.ids_where,
                ids_since=store.ids_since,
            )

            def shape(record: Mapping[str, Any]) -> dict[str, Any]:
                return query.project(record, store, api_version)

            return self._cursors.first_page(rows, batch_size, api_version, shape)

    def run_query(
        self, soql: str, api_version: str, include_deleted: bool = False
    ) -> tuple[Query, list[dict[str, Any]]]:
        """The parsed query and every record it selects, in REST shape (a bulk job's)."""
        with self._lock:
            query = parse_query(soql, self.schema)
            rows = query.execute(
                self._store,
                today=self.today(),
                api_version=api_version,
                include_deleted=include_deleted,
                ids_where=self._store.ids_where,
                ids_since=self._store.ids_since,
            )
            return query, rows

    def query_more(self, locator: str, *, api_version: str) -> dict[str, Any]:
        with self._lock:
            return self._cursors.next_page(locator, api_version)

    def write_collection(
        self, collection: Collection, write: Write, *, report_created: bool = False
    ) -> list[dict[str, Any]]:
        with self._lock:
            results = run_collection(self._store, collection, write, report_created=report_created)
            if any(sobject in ACCESS_OBJECTS for sobject, _ in collection.records):
                self._apply_field_access()
            return results

    def with_bulk_jobs(self, action: Callable[[BulkJobs], T]) -> T:
        """`action` on the org's Bulk API 2.0 jobs, serialised with every other request."""
        with self._lock:
            return action(self._bulk)

    def read(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self._store.table(self._store.object(sobject).name).get(record_id)
            return dict(record) if record else None

    def delete(self, sobject: str, record_id: str) -> bool:
        """Delete one record as a user would: to the recycle bin, out of every query but
        queryAll (with IsDeleted true); False when there is no such record."""
        with self._lock:
            return self._store.delete(self._store.object(sobject).name, record_id)

    # -- connected apps and sessions -------------------------------------------------------

    def add_client(
        self, client_id: str, client_secret: str, run_as_user_id: str | None = None
    ) -> None:
        """A connected app allowed the client-credentials flow."""
        with self._lock:
            self._sessions.secret_clients[client_id] = SecretClient(
                client_id, client_secret, run_as_user_id
            )

    def add_jwt_client(self, client_id: str, public_key_pem: str, username: str) -> None:
        """A connected app allowed the JWT-bearer flow for `username`, with its certificate's
        public key."""
        with self._lock:
            self._sessions.jwt_clients[client_id] = JwtClient(client_id, public_key_pem, username)

    def issue_token(self, user_id: str | None = None) -> str:
        """An access token without an OAuth round trip, for tests."""
        with self._lock:
            return self._sessions.issue(user_id or INTEGRATION_USER_ID)

    def expire_sessions(self) -> None:
        """Every token issued so far becomes invalid, as when a session times out."""
        with self._lock:
            self._sessions.expire_all()

    def session_user(self, token: str) -> str | None:
        with self._lock:
            return self._sessions.user(token)

    def grant_client_credentials(self, client_id: str, client_secret: str) -> Grant:
        with self._lock:
            return self._sessions.client_credentials(client_id, client_secret)

    def grant_jwt_bearer(self, assertion: str, audiences: Iterable[str]) -> Grant:
        with self._lock:
            return self._sessions.jwt_bearer(assertion, audiences)

    # -- faults ----------------------------------------------------------------------------

    def inject_fault(
        self,
        method: str,
        path_pattern: str,
        *,
        times: int = 1,
        after: int = 0,
        status: int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        drop_after_commit: bool = False,
    ) -> None:
        """Make the next `times` requests whose method is `method` and whose path matches
        the regex `path_pattern` fail (once `after` of them have succeeded): refused with
        `status` (and `body`, or Salesforce's usual error for that status, and `headers` such
        as Retry-After) before anything happens, or, with `drop_after_commit`, carried out in
        full and then left without any response."""
        if status is None and not drop_after_commit:
            raise ValueError("a fault needs a status or drop_after_commit=True")
        fault = Fault(
            method.upper(),
            re.compile(path_pattern),
            status,
            body,
            drop_after_commit,
            dict(headers or {}),
        )
        with self._lock:
            self._faults.add(fault, times, after)

    def fail_bulk_jobs(
        self,
        kind: str,
        *,
        times: int = 1,
        state: str = "Failed",
        message: str = "InternalServerError : the job could not be completed",
        processed: int = 0,
    ) -> None:
        """The next `times` Bulk API 2.0 jobs of `kind` ("query" or "ingest") end `state`
        (Failed or Aborted) with `message`, an ingest job after writing `processed` rows; a
        query job may instead stay InProgress until it is aborted."""
        states = ("Failed", "Aborted", "InProgress") if kind == "query" else ("Failed", "Aborted")
        if kind not in ("query", "ingest") or state not in states:
            raise ValueError(f"a {kind} job can be made to end {' or '.join(states)}")
        with self._lock:
            self._bulk.fail_next(JobFault(kind == "query", state, message, processed), times)

    def clear_faults(self) -> None:
        """The outage is over: every fault not yet used is dropped."""
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            return self._faults.take(method, path)

    # -- call log and API usage ------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def count_calls(self, method: str, path_suffix: str) -> int:
        """Calls with this method whose path ends with `path_suffix` (`composite/sobjects`
        counts updates, not upserts under composite/sobjects/Task/...)."""
        with self._lock:
            return sum(
                call.method == method.upper() and call.path.endswith(path_suffix)
                for call in self._calls
            )

    def reset_calls(self) -> None:
        """Forget the call log; the day's API usage is unaffected."""
        with self._lock:
            self._calls.clear()

    def count_request(self) -> None:
        """Count a call against today's API usage as it arrives, so the usage it reports
        (header, /limits) includes itself."""
        with self._lock:
            self._usage = (self.today(), self._used_today() + 1)

    def record_call(self, call: ApiCall) -> None:
        with self._lock:
            self._calls.append(call)

    def over_daily_limit(self) -> bool:
        with self._lock:
            return self._used_today() > self.api_daily_limit

    def limit_info(self) -> str:
        """The `Sforce-Limit-Info` header value."""
        with self._lock:
            return f"api-usage={self._used_today()}/{self.api_daily_limit}"

    def limits(self) -> dict[str, Any]:
        """The /limits resource."""
        with self._lock:
            remaining = max(0, self.api_daily_limit - self._used_today())
            return {"DailyApiRequests": {"Max": self.api_daily_limit, "Remaining": remaining}}

    def record_counts(self, names: list[str] | None) -> dict[str, Any]:
        """The /limits/recordCount resource: how many records each object named (every
        object, if none is) holds, deleted ones not counted; an unknown name is left out.
        Salesforce's counts are refreshed now and then; the sandbox's are exact."""
        with self._lock:
            known = [name for name in names or self.schema if name in self.schema]
            counts = [{"count": len(self._store.table(name)), "name": name} for name in known]
            return {"sObjects": counts}

    def set_remaining_api_calls(self, remaining: int) -> None:
        """Leave the org `remaining` API calls today (other integrations used the rest)."""
        with self._lock:
            self.api_daily_limit = self._used_today() + remaining

    def _used_today(self) -> int:
        day, used = self._usage
        return used if day == self.today() else 0

    # -- metadata ----------------------------------------------------------------------------

    def add_custom_field(self, sobject: str, field: FieldSchema) -> str:
        """What the Tooling API does: a new field, null on every existing record, read-only
        for the integration user until a permission set gives it Edit access (see
        `field_access`). Returns the new field's 00N… id."""
        with self._lock:
            obj = self._store.object(sobject)
            if obj.field(field.name) is not None:
                raise SalesforceError(
                    "DUPLICATE_DEVELOPER_NAME",
                    f"There is already a field named {field.name} on {obj.name}.",
                )
            self.schema[obj.name] = replace(obj, fields=(*obj.fields, field))
            self._store.add_field(obj.name, field.name)
            self._custom_fields.append((obj.name, field))
            self._apply_field_access()
            return make_id("00N", len(self._custom_fields))

    def _apply_field_access(self) -> None:
        """API-created fields as the integration user's permission sets let it write them."""
        editable = (
            editable_fields(
                self._store.table("FieldPermissions").values(),
                self._store.table("PermissionSetAssignment").values(),
                INTEGRATION_USER_ID,
            )
            if self.schema.keys() >= ACCESS_OBJECTS
            else set()
        )
        for sobject, field in self._custom_fields:
            obj = self.schema[sobject]
            granted = with_access(field, f"{sobject}.{field.name}".lower() in editable)
            fields = tuple(granted if f.name == field.name else f for f in obj.fields)
            self.schema[sobject] = replace(obj, fields=fields)

    # -- persistence -----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Records, Id counters, connected apps and today's API usage, as JSON. Validation
        rules, faults and sessions are not kept."""
        with self._lock:
            day, used = self._usage
            state = {
                **self._store.to_json(),
                **self._sessions.to_json(),
                "api_usage": {"day": day.isoformat(), "calls": used},
                "custom_fields": [[name, asdict(field)] for name, field in self._custom_fields],
            }
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(state))
        partial.replace(path)

    @classmethod
    def load(
        cls,
        path: Path,
        schema: Mapping[str, ObjectSchema] = DEFAULT_SCHEMA,
        *,
        today: Callable[[], date] | None = None,
        now: Callable[[], datetime] | None = None,
        api_daily_limit: int = API_DAILY_LIMIT,
    ) -> SandboxOrg:
        """An org as `save` left it."""
        state = json.loads(path.read_text())
        org = cls(schema, today=today, now=now, api_daily_limit=api_daily_limit)
        for sobject, field in state.get("custom_fields", []):
            org.add_custom_field(sobject, _field_from_json(field))
        org._store.load_json(state)
        org._apply_field_access()
        org._sessions.load_json(state)
        usage = state["api_usage"]
        org._usage = (date.fromisoformat(usage["day"]), usage["calls"])
        return org


def _field_from_json(raw: dict[str, Any]) -> FieldSchema:
    return FieldSchema(
        **{**raw, "picklist": tuple(raw["picklist"]), "reference_to": tuple(raw["reference_to"])}
    )
