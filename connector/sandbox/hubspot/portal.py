"""The sandbox HubSpot portal: the one source of truth `HubSpotApp` serves, the seeder fills
and tests assert on. Schemas, records, owners, associations, tokens, the call log and
arranged faults live here behind one lock, because the HTTPS server answers each request
on its own thread."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.crm.hubspot.scopes import APPLY_SCOPES, REQUIRED_SCOPES
from connector.sandbox.hubspot import associations, objects, search, writes
from connector.sandbox.hubspot.errors import HubSpotError, correlation_id, validation_error
from connector.sandbox.hubspot.faults import FaultPlan, StatusFault
from connector.sandbox.hubspot.object_types import (
    ASSOCIATION_TYPES,
    OBJECT_TYPES,
    object_type,
)
from connector.sandbox.hubspot.properties import (
    DEFAULT_PROPERTIES,
    PropertySpec,
    iso_millis,
    property_from_create,
)
from connector.sandbox.hubspot.ratelimit import DAILY_LIMIT, RateLimiter, Usage
from connector.sandbox.hubspot.store import CrmStore, sorted_records

MAX_OWNERS_PAGE = 500
# Which end of an association counts the other in its rollups (num_associated_contacts,
# num_associated_deals, the last activity dates): the one earlier in this order.
ROLLUP_ORDER = ("companies", "deals", "contacts", "meetings", "tasks")
HUB_ID = 24681357  # the demo portal's Hub ID


@dataclass(frozen=True)
class ApiCall:
    """One request served under /crm; `inputs` counts a batch body's inputs."""

    method: str
    path: str
    operation: str  # "objects.batch_update", ...; "unknown" for a path with no route
    status: int
    inputs: int = 0


@dataclass(frozen=True)
class Exchange:
    """One answered request with its response as sent, for the contract check: decoded
    when asked, not as each list page is answered (~6 % of the portal's time in a run)."""

    operation: str
    status: int
    response: bytes

    @property
    def response_body(self) -> Any:
        return json.loads(self.response)


class HubSpotPortal:
    def __init__(
        self,
        schema: Mapping[str, Sequence[PropertySpec]] = DEFAULT_PROPERTIES,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.rate_limit: tuple[int, int] = (100, 10_000)  # (max requests, interval in ms)
        self.daily_limit = DAILY_LIMIT  # requests per token and day
        self.search_rate_limit: tuple[int, int] = (4, 1_000)  # the search API's own limit
        self.search_lag_seconds = 0.0
        self.search_reachable = search.MAX_REACHABLE  # results one search pages to; lower in tests
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._store = CrmStore(schema, self._clock)
        self._tokens: set[str] = set()
        # what the private app's tokens may do: the scopes the README has an admin tick
        self.scopes: set[str] = set(REQUIRED_SCOPES) | set(APPLY_SCOPES)
        self.hub_id = HUB_ID
        self._groups: dict[str, set[str]] = {}  # property groups created through the API
        self._faults = FaultPlan()
        self._rules: dict[str, list[writes.ValidationRule]] = {}
        self._limiter = RateLimiter()
        self._search_limiter = RateLimiter()
        self._calls: list[ApiCall] = []
        self._exchanges: list[Exchange] = []

    def now(self) -> datetime:
        return self._clock()

    # -- tokens ------------------------------------------------------------------------------

    def add_token(self, token: str) -> None:
        """A private app access token the API accepts as `Authorization: Bearer <token>`."""
        with self._lock:
            self._tokens.add(token)

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def has_token(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    def token_info(self, body: Any) -> tuple[int, Any]:
        """POST /oauth/v2/private-apps/get/access-token-info: the app and its scopes."""
        token = body.get("tokenKey") if isinstance(body, dict) else None
        with self._lock:
            if token not in self._tokens:
                return 400, {
                    "status": "error",
                    "message": "The token is not a valid private app access token",
                    "correlationId": correlation_id(),
                    "category": "VALIDATION_ERROR",
                }
            return 200, {
                "userId": 1,
                "hubId": self.hub_id,
                "appId": 1,
                "scopes": sorted(self.scopes),
            }

    # -- direct access for seeding and tests -----------------------------------------------------

    def add_owner(
        self, email: str, first_name: str, last_name: str, *, archived: bool = False
    ) -> str:
        """A user who can own records; returns the owner id (a numeric string)."""
        with self._lock:
            return self._store.add_owner(email, first_name, last_name, archived).id

    def owners(self) -> list[dict[str, Any]]:
        """Every owner as the owners API shows it, archived ones included."""
        with self._lock:
            return [owner.to_json() for owner in self._store.owners.values()]

    def insert(
        self,
        object_type_name: str,
        properties: Mapping[str, str],
        associations: Iterable[tuple[str, str]] = (),
    ) -> str:
        """Create a record without HTTP, read-only properties allowed, associated with
        `(object type, id)` pairs by the default association type; returns its id.
        ValueError when a value is invalid or an associated record does not exist."""
        with self._lock:
            kind = object_type(object_type_name).name
            try:
                values = writes.prepare(self._store, kind, properties, allow_read_only=True)
            except writes.InputRejected as rejected:
                raise ValueError(rejected.message) from None
            targets = [(object_type(t).name, i) for t, i in associations]
            for to_type, to_id in targets:
                if (kind, to_type) not in ASSOCIATION_TYPES or to_id not in self._store.records[
                    to_type
                ]:
                    raise ValueError(f"cannot associate {kind} with {to_type} {to_id}")
            record = self._store.new_record(kind, {}, self.search_lag_seconds)
            writes.apply_changes(self._batch(kind), record, values)
            for to_type, to_id in targets:
                self._store.link(kind, record.id, to_type, to_id)
            return record.id

    def archive(self, object_type_name: str, record_id: str) -> None:
        """What deleting a record in HubSpot does: it goes to the recycle bin (the list API
        shows it with `archived=true`, search no longer finds it) and leaves its
        associations, which recounts the rollups of the records it was associated with."""
        with self._lock:
            kind = object_type(object_type_name).name
            now = self.now()
            for to_type, to_id in self._store.archive(kind, record_id, now):
                self._recount(kind, to_type, to_id, now)

    def merge(self, object_type_name: str, primary_id: str, merged_id: str) -> None:
        """What merging two records does: the merged one is gone (its id now reads the
        primary), its associations move to the primary, which lists it in
        hs_merged_object_ids — a change to the primary."""
        with self._lock:
            kind = object_type(object_type_name).name
            primary = self._store.records[kind][primary_id]
            merged = self._store.remove(kind, merged_id)
            now = self.now()
            for to_type, to_id in sorted(self._store.links.pop((kind, merged_id), set())):
                self._store.links.get((to_type, to_id), set()).discard((kind, merged_id))
                self._store.link(kind, primary_id, to_type, to_id)
                self._recount(kind, to_type, to_id, now)
            ids = [*primary.values.get("hs_merged_object_ids", "").split(";"), merged.id]
            primary.values["hs_merged_object_ids"] = ";".join(i for i in ids if i)
            primary.touch(self.search_lag_seconds, now)

    def associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, *, remove: bool = False
    ) -> None:
        """Add (or `remove`) an association, as the v4 associations API does. Neither end's
        own properties change; the end that counts the other in its rollups
        (`ROLLUP_ORDER`: a company counts its contacts, deals and meetings) is recounted, so
        only its hs_lastmodifieddate moves."""
        with self._lock:
            kinds = object_type(from_type).name, object_type(to_type).name
            if not all(
                record_id in self._store.records[kind]
                for kind, record_id in zip(kinds, (from_id, to_id), strict=True)
            ):
                raise ValueError(f"no {kinds[0]} {from_id} or {kinds[1]} {to_id} to associate")
            change = self._store.unlink if remove else self._store.link
            change(kinds[0], from_id, kinds[1], to_id)
            now = self.now()
            self._recount(kinds[0], kinds[1], to_id, now)
            self._recount(kinds[1], kinds[0], from_id, now)

    def _recount(self, other_type: str, kind: str, record_id: str, now: datetime) -> None:
        """The record `kind`/`record_id` lost or gained an `other_type`: if it counts that
        type in a rollup, the recount is a change to it."""
        record = self._store.records[kind].get(record_id)
        if record is not None and ROLLUP_ORDER.index(kind) < ROLLUP_ORDER.index(other_type):
            record.touch(self.search_lag_seconds, now)

    def records(self, object_type_name: str) -> list[dict[str, Any]]:
        """Every record of a type in id order: id, properties (set values and the standard
        three) and associations as {object type: [ids]}."""
        with self._lock:
            kind = object_type(object_type_name).name
            return [
                {
                    "id": record.id,
                    "properties": record.properties(),
                    "associations": {
                        to: ids
                        for to in OBJECT_TYPES
                        if (ids := self._store.linked(kind, record.id, to))
                    },
                }
                for record in sorted_records(self._store.records[kind].values())
            ]

    def get(self, object_type_name: str, record_id: str) -> dict[str, Any]:
        """One record as `records` shows it; KeyError when there is none."""
        for record in self.records(object_type_name):
            if record["id"] == record_id:
                return record
        raise KeyError(record_id)

    def property_specs(self, object_type_name: str) -> list[PropertySpec]:
        with self._lock:
            return list(self._store.schema[object_type(object_type_name).name].values())

    def add_property(self, object_type_name: str, spec: PropertySpec) -> None:
        """A new property, empty on every record; ValueError if the name is taken."""
        with self._lock:
            schema = self._store.schema[object_type(object_type_name).name]
            if spec.name in schema:
                raise ValueError(f"Property named '{spec.name}' already exists.")
            schema[spec.name] = spec

    def remove_property(self, object_type_name: str, name: str) -> None:
        """As if the property had never been created (a portal missing our custom fields)."""
        with self._lock:
            kind = object_type(object_type_name).name
            del self._store.schema[kind][name]
            for record in self._store.records[kind].values():
                record.values.pop(name, None)

    # -- API operations (what HubSpotApp serves) -------------------------------------------------

    def get_page(self, object_type_name: str, request: objects.PageRequest) -> dict[str, Any]:
        with self._lock:
            return objects.get_page(self._store, object_type(object_type_name).name, request)

    def batch_read(self, object_type_name: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        with self._lock:
            kind = object_type(object_type_name).name
            return objects.batch_read(self._store, kind, body, iso_millis(self.now()))

    def batch_update(self, object_type_name: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        with self._lock:
            batch = self._batch(object_type(object_type_name).name)
            return writes.batch_update(batch, body["inputs"])

    def batch_create(self, object_type_name: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        with self._lock:
            batch = self._batch(object_type(object_type_name).name)
            return writes.batch_create(batch, body["inputs"])

    def search(self, object_type_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            kind = object_type(object_type_name).name
            return search.search(
                self._store, kind, body, self.search_lag_seconds, self.search_reachable
            )

    def owners_page(
        self, *, limit: int, after: str | None, email: str | None, archived: bool
    ) -> dict[str, Any]:
        if not 1 <= limit <= MAX_OWNERS_PAGE:
            raise validation_error(f"limit must be between 1 and {MAX_OWNERS_PAGE}, got {limit}")
        if after is not None and not after.isdigit():
            raise validation_error(f"Invalid 'after' paging cursor: {after}")
        with self._lock:
            matching = [
                owner
                for owner in self._store.owners.values()
                if owner.archived == archived
                and (email is None or owner.email.lower() == email.lower())
                and (after is None or int(owner.id) >= int(after))
            ]
        body: dict[str, Any] = {"results": [owner.to_json() for owner in matching[:limit]]}
        if len(matching) > limit:
            body["paging"] = {"next": {"after": matching[limit].id}}
        return body

    def property_list(self, object_type_name: str) -> dict[str, Any]:
        return {"results": [spec.to_json() for spec in self.property_specs(object_type_name)]}

    def property_json(self, object_type_name: str, name: str) -> dict[str, Any]:
        for spec in self.property_specs(object_type_name):
            if spec.name == name:
                return spec.to_json()
        raise HubSpotError(
            404,
            "OBJECT_NOT_FOUND",
            f"Unable to find property {name} for object type {object_type_name}",
        )

    def property_groups(self, object_type_name: str) -> set[str]:
        """Groups the portal has: those of its properties, and any created since."""
        with self._lock:
            kind = object_type(object_type_name).name
            named = {spec.group_name for spec in self._store.schema[kind].values()}
            return named | self._groups.get(kind, set())

    def create_property_group(
        self, object_type_name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A PropertyGroupCreate body (checked against the model by the app)."""
        with self._lock:
            name = body["name"]
            if name in self.property_groups(object_type_name):
                raise HubSpotError(
                    409, "OBJECT_ALREADY_EXISTS", f"Property group '{name}' already exists."
                )
            self._groups.setdefault(object_type(object_type_name).name, set()).add(name)
            return {
                "name": name,
                "label": body["label"],
                "displayOrder": body.get("displayOrder", -1),
                "archived": False,
            }

    def create_property(self, object_type_name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A PropertyCreate body (checked against the model by the app)."""
        try:
            spec = property_from_create(body)
        except ValueError as error:
            raise validation_error(str(error)) from None
        if spec.group_name not in self.property_groups(object_type_name):
            raise validation_error(
                f"Property group {spec.group_name} does not exist for {object_type_name}."
            )
        with self._lock:
            if any(s.name == spec.name for s in self.property_specs(object_type_name)):
                raise HubSpotError(
                    409, "OBJECT_ALREADY_EXISTS", f"Property named '{spec.name}' already exists."
                )
            self.add_property(object_type_name, spec)
            return spec.to_json()

    def association_labels(self, from_type: str, to_type: str) -> dict[str, Any]:
        pair = (object_type(from_type).name, object_type(to_type).name)
        type_id = ASSOCIATION_TYPES.get(pair)
        results = (
            []
            if type_id is None
            else [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]
        )
        return {"results": results}

    def associated(
        self, from_type: str, to_type: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            from_name, to_name = object_type(from_type).name, object_type(to_type).name
            return associations.batch_read(
                self._store, from_name, to_name, body, iso_millis(self.now())
            )

    def add_validation_rule(
        self,
        object_type_name: str,
        predicate: Callable[[Mapping[str, str]], bool],
        message: str,
    ) -> None:
        """Refuse each batch input for which `predicate(the record's values as they would be
        saved)` is True, alone, with VALIDATION_ERROR and `message` (a partial batch)."""
        with self._lock:
            kind = object_type(object_type_name).name
            self._rules.setdefault(kind, []).append(writes.ValidationRule(predicate, message))

    def _batch(self, kind: str) -> writes.Batch:
        rules = tuple(self._rules.get(kind, ()))
        return writes.Batch(self._store, kind, self.search_lag_seconds, rules)

    # -- rate limits and faults -------------------------------------------------------------------

    def usage(self, token: str, *, count: bool) -> Usage:
        """The request's standing in `token`'s rolling window, counting it if `count`."""
        with self._lock:
            return self._limiter.take(
                token, time.monotonic(), self.rate_limit, count=count, daily_limit=self.daily_limit
            )

    def set_remaining_api_calls(self, token: str, remaining: int) -> None:
        """Leave `token` `remaining` API calls today (other apps used the rest)."""
        with self._lock:
            self.daily_limit = self._limiter.used_today(token) + remaining

    def search_allowed(self, token: str) -> bool:
        """Whether one more search fits `token`'s per-second search window (and count it)."""
        with self._lock:
            now = time.monotonic()
            return self._search_limiter.take(token, now, self.search_rate_limit, count=True).allowed

    def refuse_fraction(self, fraction: float, seed: int = 0) -> None:
        """A 429 storm: that fraction of calls (drawn by a seeded RNG) is refused as over the
        ten-secondly limit before anything else happens."""
        with self._lock:
            self._faults.refuse(fraction, seed)

    def drop_after_commit(self, method: str, path_pattern: str, times: int = 1) -> None:
        """The next `times` requests with this method whose path matches the regex are
        carried out in full and then left without a response."""
        with self._lock:
            self._faults.drop_after_commit(method, path_pattern, times)

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next `times` requests with this method whose path matches the regex (once
        `after` of them have succeeded) are refused with `status` (HubSpot's body for it, and
        `headers` such as Retry-After) before anything happens."""
        fault = StatusFault(method.upper(), re.compile(path_pattern), status, dict(headers or {}))
        with self._lock:
            self._faults.fail_next(fault, times, after)

    def take_refusal(self, method: str, path: str) -> StatusFault | None:
        with self._lock:
            return self._faults.take_refusal(method, path)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._limiter.clear()

    def refused(self) -> bool:
        with self._lock:
            return self._faults.refused()

    def take_drop(self, method: str, path: str) -> bool:
        with self._lock:
            return self._faults.take_drop(method, path)

    # -- call log ------------------------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def count_calls(self, operation: str) -> int:
        with self._lock:
            return sum(call.operation == operation for call in self._calls)

    def record(self, call: ApiCall, exchange: Exchange) -> None:
        with self._lock:
            self._calls.append(call)
            self._exchanges.append(exchange)

    def reset_log(self) -> None:
        with self._lock:
            self._calls.clear()
            self._exchanges.clear()

    # -- persistence -----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Schemas, records, owners, associations, id counters and tokens, as JSON. Faults,
        rate-limit windows, the call log and the search index lag are not kept."""
        with self._lock:
            state = {
                **self._store.to_json(),
                "tokens": sorted(self._tokens),
                "groups": {kind: sorted(names) for kind, names in self._groups.items()},
            }
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(state))
        partial.replace(path)

    @classmethod
    def load(cls, path: Path, *, clock: Callable[[], datetime] | None = None) -> HubSpotPortal:
        """A portal as `save` left it."""
        state = json.loads(path.read_text())
        portal = cls(clock=clock)
        portal._store.load_json(state)
        portal._tokens = set(state["tokens"])
        portal._groups = {kind: set(names) for kind, names in state.get("groups", {}).items()}
        return portal
