"""The Salesforce calls the worker makes, through simple-salesforce, counted and retried.

Every call goes through `SalesforceClient.call`: `classify` says what a failure means
(connection errors, timeouts and 5xx are retried, an expired session is renewed, a used-up
budget stops the run) and `connector.transport`'s policy does the waiting.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
)

from connector.crm.described import Descriptions
from connector.crm.protocol import ApiUsage
from connector.crm.salesforce.auth import authenticate, can_refresh
from connector.crm.salesforce.describe import ObjectDescription
from connector.errors import ApiBudgetExhausted, CrmCredentialsRejected, CrmError
from connector.settings import Settings
from connector.transport import Action, Resolution, RetryPolicy

T = TypeVar("T")


class ApiSession(requests.Session):
    """A pooled session with a default timeout that counts every call and the org's budget."""

    def __init__(self, timeout: float, verify: str | bool, usage: ApiUsage) -> None:
        super().__init__()
        self.verify = verify
        self._timeout = timeout
        self._usage = usage
        self.server_time: datetime | None = None  # the Date of the latest answer

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        # requests lets REQUESTS_CA_BUNDLE override `session.verify`; a per-request value wins.
        kwargs.setdefault("verify", self.verify)
        api_call = "/services/data/" in str(url)
        if api_call:  # counted when sent: a call whose answer is lost still reached the org
            self._usage.count()
        response = super().request(method, url, *args, **kwargs)
        if api_call:
            self._record_limit(response.headers.get("Sforce-Limit-Info", ""))
            self._record_date(response.headers.get("Date", ""))
        return response

    def _record_date(self, header: str) -> None:
        try:
            self.server_time = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return

    def _record_limit(self, header: str) -> None:
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            used, _, limit = value.partition("/")
            if name == "api-usage" and used.isdigit() and limit.isdigit():
                self._usage.used_today, self._usage.daily_limit = int(used), int(limit)


def classify(exc: Exception, *, renewable: bool = True) -> Resolution | None:
    """What a failed Salesforce call means; `renewable`: the session can be renewed by us."""
    if isinstance(exc, SalesforceExpiredSession):
        if renewable:
            return Resolution(Action.REAUTHENTICATE, crm_error(exc))
        return Resolution(
            Action.STOP_RUN,
            CrmCredentialsRejected(
                "the Salesforce access token has expired; issue a new SALESFORCE_ACCESS_TOKEN.",
                "INVALID_SESSION_ID",
                401,
            ),
        )
    if isinstance(exc, SalesforceError):
        error = crm_error(exc)
        if isinstance(error, ApiBudgetExhausted):
            return Resolution(Action.STOP_RUN, error)
        if isinstance(exc, SalesforceGeneralError) and exc.status >= 500:
            return Resolution(Action.RETRY, error)
        return Resolution(Action.FAIL_RECORDS, error)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return _http_status(exc.response.status_code, renewable=renewable)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return Resolution(Action.RETRY, _unreachable(exc))
    if isinstance(exc, requests.RequestException):
        return Resolution(Action.STOP_RUN, _unreachable(exc))
    return None


class SalesforceClient:
    """One logged-in session: calls, paged queries and cached describes."""

    def __init__(self, settings: Settings, version: str, *, policy: RetryPolicy | None = None):
        self.usage = ApiUsage()
        self._settings = settings
        self._version = version
        self._http = ApiSession(settings.http_timeout_seconds, settings.verify, self.usage)
        self._policy = policy or RetryPolicy()
        self._classify = functools.partial(classify, renewable=can_refresh(settings))
        self._describes = Descriptions(
            self._ask_describe, settings.crm_concurrency, lambda exc: exc.status == 404
        )
        self._counts: dict[str, int | None] = {}
        self._counted_together: set[str] = set()
        self._counting = threading.Lock()
        # held while a read turns what it received into frames (a result set parsed, a
        # mirror put in order or merged): the objects are read side by side, and their
        # waits on the org overlap well, but two of these at once were where runs peaked
        # (at 100,000 accounts, the 196,000 keyed tasks merged beside the accounts' CSV
        # parsed; a first run's contacts put in order beside its opportunities)
        self.framing = threading.Lock()
        self.bulk_read_above = settings.salesforce_bulk_read_above  # records, see `bulk`
        self.bulk_write_above = settings.salesforce_bulk_write_above
        self._sf = self._login()

    def _login(self) -> Salesforce:
        token = authenticate(self._settings, self._http, self._policy)
        return Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token.get_secret_value(),
            session=self._http,
            version=self._version,
        )

    def _renew(self) -> None:
        self._sf = self._login()

    def close(self) -> None:
        self._http.close()

    @property
    def server_time(self) -> datetime | None:
        """Salesforce's time at its latest answer (its Date header): a read started after it
        sees every change stamped before it."""
        return self._http.server_time

    @property
    def instance(self) -> str:
        return str(self._sf.sf_instance)

    def call(self, request: Callable[[Salesforce], T]) -> T:
        """`request`, retried; what still fails becomes a `CrmError` with Salesforce's code."""
        return self._policy.call(
            lambda: request(self._sf), self._classify, reauthenticate=self._renew
        )

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Records of every page; each page is one retried call. `include_deleted`:
        queryAll, deleted records (IsDeleted) too."""
        yield from self.records_from(self.first_page(soql, include_deleted=include_deleted))

    def first_page(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """The query's first page, whose `totalSize` says how many records it selects."""
        page: dict[str, Any] = self.call(lambda sf: sf.query(soql, include_deleted=include_deleted))
        return page

    def records_from(self, page: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The records of a query's first `page` and of every page after it."""
        yield from page["records"]
        while not page["done"]:
            page = self._query_more(page["nextRecordsUrl"])
            yield from page["records"]

    def _query_more(self, next_records_url: str) -> dict[str, Any]:
        return self.call(lambda sf: sf.query_more(next_records_url, identifier_is_url=True))

    def describe(self, sobject: str) -> ObjectDescription:
        """The object's describe, asked once a session (a 404 too)."""
        return self._describes.get(sobject)

    def describe_all(self, sobjects: Iterable[str]) -> None:
        """Describe those not yet described side by side, `CRM_CONCURRENCY` at once."""
        self._describes.ask_all(sobjects)

    def _ask_describe(self, sobject: str) -> ObjectDescription:
        raw = self.call(lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
        return ObjectDescription.from_describe(raw)

    def user_id(self) -> str:
        """The running user's Id (OAuth userinfo): whom field access is granted to."""

        def userinfo(sf: Salesforce) -> Any:
            url = f"https://{sf.sf_instance}/services/oauth2/userinfo"
            response = sf.session.get(url, headers=sf.headers)
            response.raise_for_status()
            return response.json()

        return str(self.call(userinfo)["user_id"])

    def count_together(self, sobjects: Iterable[str]) -> None:
        """Objects whose record counts the first `record_count` asks for in the same call."""
        self._counted_together.update(sobjects)

    def record_count(self, sobject: str) -> int | None:
        """How many records `sobject` holds by the org's `limits/recordCount`, asked once a
        run for every object `count_together` named: enough to choose between REST and a
        query job for a whole object without running its query twice. Salesforce refreshes
        these counts now and then, so a count is an estimate; None where the org gives none
        (an API version before 40.0, or an object it does not count)."""
        with self._counting:
            if sobject not in self._counts:
                names = sorted(self._counted_together | {sobject})
                self._counts.update(dict.fromkeys(names))
                try:
                    answer = self.call(
                        lambda sf: sf.restful(
                            "limits/recordCount", params={"sObjects": ",".join(names)}
                        )
                    )
                except (ApiBudgetExhausted, CrmCredentialsRejected):
                    raise
                except CrmError:
                    return None  # the read asks its query's first page instead
                for counted in (answer or {}).get("sObjects", []):
                    if counted.get("name") in self._counts:
                        self._counts[counted["name"]] = int(counted["count"])
            return self._counts[sobject]

    def forget_describe(self, sobject: str) -> None:
        """After a field was created: the next describe must see it."""
        self._describes.forget(sobject)


def crm_error(exc: SalesforceError) -> CrmError:
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


def _http_status(status: int, *, renewable: bool) -> Resolution:
    """A plain HTTP refusal (a call made without simple-salesforce's error mapping)."""
    error = CrmError(f"Salesforce answered HTTP {status}.", f"HTTP_{status}", status)
    if status >= 500:
        return Resolution(Action.RETRY, error)
    if status == 401:
        if renewable:
            return Resolution(Action.REAUTHENTICATE, error)
        refused = CrmCredentialsRejected(
            "Salesforce refused the access token (HTTP 401); issue a new SALESFORCE_ACCESS_TOKEN.",
            "HTTP_401",
            status,
        )
        return Resolution(Action.STOP_RUN, refused)
    return Resolution(Action.FAIL_RECORDS, error)


def _unreachable(exc: requests.RequestException) -> CrmError:
    return CrmError(
        f"cannot reach Salesforce ({type(exc).__name__}); check SALESFORCE_URL, the network "
        "and status.salesforce.com.",
        "UNREACHABLE",
    )
