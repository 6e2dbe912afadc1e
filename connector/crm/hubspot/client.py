"""The HubSpot calls the worker makes, on hubspot-api-client, paced and retried in one place.

The client builds a new urllib3 pool each time an API attribute is read, so the API objects
are made once here. Every call goes through `_call`: it waits for the portal's rate-limit
window and counts the call; `classify` says what a failure means and `connector.transport`'s
policy retries 429s (always safe: HubSpot did nothing) and, for calls that are safe to
repeat, server errors and dropped connections. A create is never repeated after it may have
reached HubSpot: that raises `OutcomeUnknown` for the caller to reconcile.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.associations.v4.models import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4.schema.exceptions import ApiException as LabelsApiException
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.objects.models import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
)
from hubspot.crm.owners.exceptions import ApiException as OwnersApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.properties.models import PropertyCreate, PropertyGroupCreate
from pydantic import SecretStr
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, SSLError
from urllib3.util.retry import Retry

from connector.crm.hubspot.batches import send_batches
from connector.crm.hubspot.describe import ObjectProperties, parse_datetime
from connector.crm.hubspot.rate_limit import RateLimiter, limiter_for
from connector.crm.protocol import ApiUsage
from connector.errors import (
    ApiBudgetExhausted,
    CrmCredentialsRejected,
    CrmError,
    OutcomeUnknown,
    SettingsError,
)
from connector.settings import Settings
from connector.transport import Action, Resolution, RetryPolicy, retry_after_seconds

API_EXCEPTIONS = (
    ObjectsApiException,
    PropertiesApiException,
    OwnersApiException,
    LabelsApiException,
    AssociationsApiException,
)
PAGE_LIMIT = 100  # objects per list page, HubSpot's maximum
BATCH_LIMIT = 100  # inputs per batch read/update/create, HubSpot's maximum
SEARCH_LIMIT = 200  # results per search page, HubSpot's maximum
ASSOCIATIONS_BATCH_LIMIT = 1000  # inputs per v4 associations batch read
SEARCH_REACHABLE = 10_000  # results one search can page through
RECORD_ID = "hs_object_id"
MODIFIED = "hs_lastmodifieddate"  # moved by every change to a record, HubSpot's own included
MERGED = "hs_merged_object_ids"  # on a merge's surviving record: the ids merged into it
SEARCHES_PER_SECOND = 4  # the CRM search API's own limit, on top of the window


@dataclass(frozen=True)
class Owner:
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    user_id: int | None
    team: str | None  # the owner's primary team, e.g. "Customer Success"

    def attribute(self, name: str) -> str | None:
        values = {
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "name": " ".join(p for p in (self.first_name, self.last_name) if p) or None,
            "team": self.team,
            "userId": None if self.user_id is None else str(self.user_id),
        }
        return values[name]


OWNER_ATTRIBUTES = ("email", "firstName", "lastName", "name", "team", "userId")


@dataclass(frozen=True)
class BatchOutcome:
    """A batch write's answer, per input: the objects written and the errors by trace id."""

    ids: list[str]  # of the objects written, in the answer's order
    properties: list[dict[str, Any]]  # each one's, as written
    errors: dict[str, tuple[str, str]]  # objectWriteTraceId or id → (category, message)


class HubSpotClient:
    def __init__(self, settings: Settings, usage: ApiUsage, *, max_attempts: int = 5) -> None:
        missing = settings.missing_hubspot_settings()
        if missing:
            raise SettingsError(
                f"CRM=hubspot needs {', '.join(missing)} (see settings.example.env)."
            )
        token = settings.required("hubspot_access_token")
        self._token = SecretStr(token)  # asked about by `token_scopes`
        client = HubSpot(
            access_token=token,
            host=settings.hubspot_url.rstrip("/"),
            # urllib3 repeats only connects that failed before sending; the rest is ours
            retry=Retry(total=3, connect=3, read=0, status=0, other=0, redirect=0),
            ssl_ca_cert=str(settings.ca_bundle) if settings.ca_bundle else None,
        )
        self._objects = client.crm.objects.basic_api
        self._batch = client.crm.objects.batch_api
        self._search = client.crm.objects.search_api
        self._properties = client.crm.properties.core_api
        self._groups = client.crm.properties.groups_api
        self._owners = client.crm.owners.owners_api
        self._labels = client.crm.associations.v4.schema.definitions_api
        self._associations = client.crm.associations.v4.batch_api
        # what a request's models are made with: made without, each builds a Configuration
        # of its own (loggers, a CPU count; ~45 µs), 300,000 for a first run's 59,000 tasks
        self.models = self._batch.api_client.configuration
        self._pools = [
            api.api_client
            for api in (
                self._objects,
                self._batch,
                self._search,
                self._properties,
                self._groups,
                self._owners,
                self._labels,
                self._associations,
            )
        ]
        portal = (settings.hubspot_url, hashlib.sha256(token.encode()).hexdigest()[:16])
        self.limiter: RateLimiter = limiter_for(
            portal, settings.hubspot_rate_limit_requests, settings.hubspot_rate_limit_seconds
        )
        self._search_limiter = limiter_for((*portal, "search"), SEARCHES_PER_SECOND, 1.0)
        timeout = settings.http_timeout_seconds
        self._timeout = (min(10.0, timeout), timeout)
        self._usage = usage
        self.concurrency = settings.crm_concurrency  # batches in flight: writes, look-ups
        self.server_time: datetime | None = None  # HubSpot's Date at its latest answer
        # the limiter does the waiting: the next `acquire` sleeps until the pause is over
        self._policy = RetryPolicy(max_attempts=max_attempts, sleep=_no_sleep)

    def close(self) -> None:
        for api_client in self._pools:
            api_client.rest_client.pool_manager.clear()

    # -- the one place calls are made ----------------------------------------------------

    def _call(
        self, request: Callable[..., Any], *args: Any, repeatable: bool = True, **kwargs: Any
    ) -> Any:
        """`request(*args, **kwargs)` (a `*_with_http_info` method), paced, counted, retried."""

        def once() -> Any:
            self._usage.count(waited=self.limiter.acquire())
            try:
                answer = request(*args, _request_timeout=self._timeout, **kwargs)
            except API_EXCEPTIONS as exc:
                self._observe(dict(exc.headers or {}))
                raise
            except Exception:  # a timeout or a dropped connection: out of flight all the same
                self.limiter.observe({})
                raise
            if isinstance(answer, tuple):  # a model, its status and the headers
                data, _status, headers = answer
                self._observe(dict(headers or {}))
                return data
            self._observe(dict(answer.headers))  # `_preload_content=False`: raw JSON
            try:
                return json.loads(answer.data)
            finally:
                answer.release_conn()

        return self._policy.call(
            once,
            functools.partial(classify, repeatable=repeatable),
            before_retry=self._wait_in_window,
        )

    def _wait_in_window(self, resolution: Resolution, seconds: float) -> None:
        """Every wait happens in the limiter, so the portal's window knows of it."""
        self.limiter.pause(seconds)

    def _observe(self, headers: dict[str, str]) -> None:
        self.limiter.observe(headers)
        lowered = {k.lower(): v for k, v in headers.items()}
        with contextlib.suppress(KeyError, TypeError, ValueError):  # no Date, or not one
            self.server_time = parsedate_to_datetime(lowered["date"])
        daily = lowered.get("x-hubspot-ratelimit-daily", "")
        remaining = lowered.get("x-hubspot-ratelimit-daily-remaining", "")
        if daily.isdigit() and remaining.isdigit():
            self._usage.daily_limit = int(daily)
            self._usage.used_today = int(daily) - int(remaining)

    # -- reads ---------------------------------------------------------------------------

    def properties(self, object_type: str) -> ObjectProperties:
        page = self._call(self._properties.get_all_with_http_info, object_type)
        return ObjectProperties.from_api(object_type, page.results)

    def token_scopes(self) -> list[str]:
        """The scopes of the private app's access token (HubSpot's access-token-info)."""
        answer = self._call(
            self._properties.api_client.call_api,
            "/oauth/v2/private-apps/get/access-token-info",
            "POST",
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body={"tokenKey": self._token.get_secret_value()},
            auth_settings=["oauth2"],
            _preload_content=False,
        )
        return [str(scope) for scope in answer.get("scopes") or ()]

    def create_property(
        self, object_type: str, group: PropertyGroupCreate, spec: PropertyCreate
    ) -> None:
        """Create a custom property in `group`, creating the group first if it is new."""
        try:
            self._call(self._groups.create_with_http_info, object_type, group)
        except CrmError as exc:
            if exc.status != 409:  # 409: the group exists already
                raise
        self._call(self._properties.create_with_http_info, object_type, spec)

    def owners(self) -> dict[str, Owner]:
        owners: dict[str, Owner] = {}
        after = None
        while True:
            page = self._call(
                self._owners.get_page_with_http_info, limit=PAGE_LIMIT, after=after, archived=False
            )
            for owner in page.results:
                team = next((t.name for t in owner.teams or () if t.primary), None)
                owners[str(owner.id)] = Owner(
                    str(owner.id),
                    owner.email,
                    owner.first_name,
                    owner.last_name,
                    owner.user_id,
                    team,
                )
            after = _next_after(page)
            if after is None:
                return owners

    def association_type_id(self, from_type: str, to_type: str) -> int:
        """HubSpot's default (unlabeled) association type between two object types."""
        labels = self._call(self._labels.get_all_with_http_info, from_type, to_type)
        defined = [spec for spec in labels.results if spec.category == "HUBSPOT_DEFINED"]
        if not defined:
            raise CrmError(f"HubSpot defines no association from {from_type} to {to_type}.")
        return int(min(defined, key=lambda spec: spec.label is not None).type_id)

    def list_objects(
        self, object_type: str, properties: Sequence[str], associations: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """Every object, a page of 100 per call, with only these properties, as the JSON the
        `SimplePublicObjectWithAssociations` model describes: building the models (their
        timestamps through dateutil) costs more CPU than the whole rest of a run."""
        return self._object_pages(object_type, properties, associations, archived=False)

    def _object_pages(
        self,
        object_type: str,
        properties: Sequence[str],
        associations: Sequence[str] = (),
        *,
        archived: bool,
    ) -> Iterator[dict[str, Any]]:
        """Every object (live or in the recycle bin) as raw JSON, a page of 100 per call,
        following the `after` cursor until a page has none."""
        after = None
        while True:
            page = self._call(
                self._objects.get_page_with_http_info,
                object_type,
                limit=PAGE_LIMIT,
                after=after,
                properties=list(properties),
                associations=list(associations) or None,
                archived=archived,
                _preload_content=False,
            )
            yield from page["results"]
            after = (page.get("paging") or {}).get("next", {}).get("after")
            if after is None:
                return

    def modified_since(
        self,
        object_type: str,
        since: datetime | None,
        properties: Sequence[str],
        most: int,
        also: Sequence[Filter] = (),
    ) -> list[dict[str, Any]] | None:
        """Every object whose hs_lastmodifieddate is at or after `since`, as search's JSON
        (its index, so a write shows after a lag); None when more than `most` match. Each
        page is a new search above the last id returned: no search pages past its first
        200, so its 10,000-result cap never applies, and a record changing or leaving
        meanwhile cannot shift another past the pages. `also`: filters they must match too;
        with `since` None, every object that does."""
        found: list[dict[str, Any]] = []
        above: str | None = None
        while True:
            filters = list(also)
            if since is not None:
                millis = str(_millis(since))
                filters.append(Filter(property_name=MODIFIED, operator="GTE", value=millis))
            if above is not None:
                filters.append(Filter(property_name=RECORD_ID, operator="GT", value=above))
            body = PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=filters)],
                properties=list(properties),
                limit=SEARCH_LIMIT,
                sorts=[RECORD_ID],
            )
            page = self._search_raw(object_type, body)
            if above is None and int(page["total"]) > most:
                return None
            found += page["results"]
            if not page["results"] or not (page.get("paging") or {}).get("next"):
                return found
            above = str(page["results"][-1]["id"])

    def _search_raw(self, object_type: str, body: PublicObjectSearchRequest) -> Any:
        return self._searched(object_type, body, _preload_content=False)

    def _searched(self, object_type: str, body: PublicObjectSearchRequest, **options: Any) -> Any:
        """One search call, paced by the search API's own per-second limit and counted
        from its answer — an error is an answer too, so a failed search frees its place."""
        self._usage.count(calls=0, waited=self._search_limiter.acquire())
        try:
            return self._call(self._search.do_search_with_http_info, object_type, body, **options)
        finally:
            self._search_limiter.observe({})

    def archived_ids(self, object_type: str, since: datetime) -> list[str]:
        """The ids of the objects deleted at or after `since`: the recycle bin lists every
        one deleted in the last 90 days, a page of 100 a call."""
        return [
            str(record["id"])
            for record in self._object_pages(object_type, [RECORD_ID], archived=True)
            if parse_datetime(record["archivedAt"]) >= since
        ]

    def read_by_id(self, object_type: str, ids: Sequence[str], properties: Sequence[str]) -> Any:
        """Objects by id, 100 a call, `concurrency` calls in flight (one after another they
        left most of the window unused); ids HubSpot does not have are left out."""
        found: list[Any] = []

        def send(chunk: Sequence[str]) -> Any:
            body = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in chunk],
                properties=list(properties),
                properties_with_history=[],
            )
            return self._call(self._batch.read_with_http_info, object_type, body, archived=False)

        def tally(_chunk: Sequence[str], answer: Any) -> None:
            found.extend(_answered(answer).results)

        chunks = [ids[start : start + BATCH_LIMIT] for start in range(0, len(ids), BATCH_LIMIT)]
        send_batches(chunks, send, tally, concurrency=self.concurrency)
        return found

    def search(
        self, object_type: str, groups: list[FilterGroup], properties: Sequence[str]
    ) -> Iterator[Any]:
        """Every result of one search, 200 a page, in id order (search reflects writes after
        a delay). HubSpot serves at most 10,000 results of one search, so before reaching that
        the search starts again above the last id it returned."""
        after: str | None = None
        above: str | None = None
        served = 0
        while True:
            body = PublicObjectSearchRequest(
                filter_groups=groups if above is None else _above(groups, above),
                properties=list(properties),
                limit=SEARCH_LIMIT,
                after=after,
                sorts=[RECORD_ID],
            )
            page = self._searched(object_type, body)
            yield from page.results
            served += len(page.results)
            after = _next_after(page)
            if after is None:
                return
            if served + SEARCH_LIMIT > SEARCH_REACHABLE:
                above, after, served = str(page.results[-1].id), None, 0

    def count(self, object_type: str, groups: list[FilterGroup]) -> int:
        """How many objects a search matches (one call)."""
        body = PublicObjectSearchRequest(
            filter_groups=groups, properties=[RECORD_ID], limit=1, sorts=[]
        )
        return int(self._searched(object_type, body).total)

    def associated_ids(
        self, from_type: str, to_type: str, ids: Sequence[str], per_call: int = BATCH_LIMIT
    ) -> dict[str, list[str]]:
        """For each `from_type` id, the ids of its associated `to_type` objects."""
        found = self._linked(from_type, to_type, ids, per_call)
        return {i: [str(to.to_object_id) for to in linked] for i, linked in found.items()}

    def first_associated(
        self, from_type: str, to_type: str, ids: Sequence[str]
    ) -> dict[str, str | None]:
        """For each `from_type` id, its associated `to_type` object: the labelled (primary)
        one when there are several, as a list page's inline associations rank them."""
        found = self._linked(from_type, to_type, ids, ASSOCIATIONS_BATCH_LIMIT)
        return {
            i: str(min(linked, key=_unlabelled).to_object_id) if linked else None
            for i, linked in found.items()
        }

    def _linked(
        self, from_type: str, to_type: str, ids: Sequence[str], chunk_size: int = BATCH_LIMIT
    ) -> dict[str, Any]:
        """Each id's associated objects. The full chunks of ids are read side by side
        (`concurrency` in flight); the last one, topped up with the further pages of ids
        with more associations than a page, and those pages' own further pages, one after
        another, as before: the same calls as reading every chunk in turn."""
        found: dict[str, list[Any]] = {i: [] for i in ids}
        models = self._associations.api_client.configuration
        pending = [
            PublicFetchAssociationsBatchRequest(id=i, local_vars_configuration=models) for i in ids
        ]
        full = len(pending) // chunk_size * chunk_size

        def send(chunk: Sequence[PublicFetchAssociationsBatchRequest]) -> Any:
            body = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=list(chunk), local_vars_configuration=models
            )
            return self._call(self._associations.get_page_with_http_info, from_type, to_type, body)

        def tally(_chunk: Sequence[PublicFetchAssociationsBatchRequest], answer: Any) -> None:
            for result in _answered(answer).results:
                from_id = str(result._from.id)
                found[from_id] += result.to
                if result.paging is not None and result.paging.next is not None:
                    pending.append(
                        PublicFetchAssociationsBatchRequest(
                            id=from_id,
                            after=result.paging.next.after,
                            local_vars_configuration=models,
                        )
                    )

        chunks = [pending[start : start + chunk_size] for start in range(0, full, chunk_size)]
        del pending[:full]
        send_batches(chunks, send, tally, concurrency=self.concurrency)
        while pending:
            chunk, pending[:] = pending[:chunk_size], pending[chunk_size:]
            tally(chunk, send(chunk))
        return found

    # -- writes --------------------------------------------------------------------------

    def update(self, object_type: str, inputs: list[SimplePublicObjectBatchInput]) -> BatchOutcome:
        """One batch update (≤100 inputs); safe to repeat, so it is retried."""
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=inputs, local_vars_configuration=self.models
        )
        answer = self._call(
            self._batch.update_with_http_info, object_type, body, _preload_content=False
        )
        return _outcome(answer)

    def create(
        self, object_type: str, inputs: list[SimplePublicObjectBatchInputForCreate]
    ) -> BatchOutcome:
        """One batch create (≤100 inputs), never repeated once it may have been received."""
        body = BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=inputs, local_vars_configuration=self.models
        )
        answer = self._call(
            self._batch.create_with_http_info,
            object_type,
            body,
            repeatable=False,
            _preload_content=False,
        )
        return _outcome(answer)


def _answered(answer: Any) -> Any:
    """A side-by-side call's answer; its error, raised on the caller's thread."""
    if isinstance(answer, Exception):
        raise answer
    return answer


def _outcome(answer: dict[str, Any]) -> BatchOutcome:
    """A batch write's answer as HubSpot sent it (JSON, not the client's models: building
    them parses two timestamps of every object with dateutil: about a seventh of the
    worker's CPU in a first run at 30,000 companies)."""
    errors: dict[str, tuple[str, str]] = {}
    for error in answer.get("errors") or ():
        context = error.get("context") or {}
        for trace in context.get("objectWriteTraceId") or context.get("ids") or ():
            errors[trace] = (str(error.get("category")), str(error.get("message")))
    results = answer.get("results") or ()
    return BatchOutcome(
        [str(r["id"]) for r in results], [r.get("properties") or {} for r in results], errors
    )


def _unlabelled(to: Any) -> bool:
    return all(kind.label is None for kind in to.association_types or ())


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _above(groups: list[FilterGroup], record_id: str) -> list[FilterGroup]:
    above = Filter(property_name=RECORD_ID, operator="GT", value=record_id)
    return [FilterGroup(filters=[*group.filters, above]) for group in groups]


def _next_after(page: Any) -> str | None:
    paging = getattr(page, "paging", None)
    if paging is None or paging.next is None:
        return None
    return str(paging.next.after)


def classify(exc: Exception, *, repeatable: bool = True) -> Resolution | None:
    """What a failed HubSpot call means. A 429 did nothing, so any call may be repeated; a
    call that may have reached HubSpot is repeated only if it is safe to (`repeatable`)."""
    if isinstance(exc, API_EXCEPTIONS):
        if exc.status == 429:
            return _rate_limited(exc.body, dict(exc.headers or {}))
        error = crm_error(exc)
        if exc.status in (401, 403):  # the token or its scopes: every call would be refused
            return Resolution(Action.STOP_RUN, error)
        if 0 < exc.status < 500:
            return Resolution(Action.FAIL_RECORDS, error)
        sent = exc.status != 0  # 0: TLS failed, nothing was sent
    elif isinstance(exc, urllib3.exceptions.HTTPError):
        error = CrmError(
            f"no answer from HubSpot ({type(exc).__name__}); check HUBSPOT_URL, the "
            "network and status.hubspot.com.",
            "UNREACHABLE",
        )
        sent = not _never_sent(exc)
    else:
        return None
    if sent and not repeatable:
        return Resolution(
            Action.FAIL_RECORDS,
            OutcomeUnknown(
                f"{error} Whether the write happened is reconciled before it is tried again.",
                status=error.status,
            ),
        )
    return Resolution(Action.RETRY, error)


def _rate_limited(body: Any, headers: dict[str, str]) -> Resolution:
    policy = _policy(body)
    if policy == "DAILY":
        return Resolution(
            Action.STOP_RUN,
            ApiBudgetExhausted(
                "the portal's daily API limit is used up; the next scheduled run will try again.",
                "RATE_LIMIT",
                429,
            ),
        )
    error = CrmError(
        "HubSpot kept refusing requests for its rate limit; another app may be using the "
        "portal's quota (see HUBSPOT_RATE_LIMIT_REQUESTS).",
        "RATE_LIMIT",
        429,
    )
    # the search API's own limit is per second; the others are per window
    wait = retry_after_seconds(headers)
    if wait is None:
        wait = 1.0 if policy == "SECONDLY" else _window_seconds(headers)
    return Resolution(Action.RETRY, error, wait, rate_limited=True)


def _window_seconds(headers: dict[str, str]) -> float | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    interval = lowered.get("x-hubspot-ratelimit-interval-milliseconds", "")
    return int(interval) / 1000 if interval.isdigit() else None


def _never_sent(exc: urllib3.exceptions.HTTPError) -> bool:
    """A connection that could not be opened (or whose TLS handshake failed) carried no
    request: repeating it is safe."""
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, NewConnectionError | ConnectTimeoutError | SSLError)


def _no_sleep(seconds: float) -> None:
    """The limiter sleeps instead, before the next request."""


def _body(raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _policy(raw: Any) -> str | None:
    policy = _body(raw).get("policyName")
    return str(policy) if policy else None


def crm_error(exc: Any) -> CrmError:
    """HubSpot's error body (`{"status":"error","message","category"}`) as our error type."""
    body = _body(exc.body)
    category = str(body.get("category") or f"HTTP_{exc.status}")
    message = str(body.get("message") or exc.reason or "")[:500]
    if exc.status == 401:
        message += " Check HUBSPOT_ACCESS_TOKEN (a private app token with the CRM scopes)."
    elif exc.status == 403:
        message += " The private app lacks a scope it needs (crm.objects.*.read/write)."
    if exc.status in (401, 403):  # a person must renew the token or grant the scope
        return CrmCredentialsRejected(message, category, exc.status)
    return CrmError(message, category, exc.status)
