"""HubSpot behind the CRM protocol: paged reads, batch writes, tasks through the ledger.

`client` makes, paces and retries the calls; `read`, `write` and `ledger` speak HubSpot's
objects; this class checks the mapping against the portal's properties and serves `doctor`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime

import polars as pl
from hubspot.crm.properties.models import PropertyCreate, PropertyGroupCreate

from connector.config.mapping import Mapping, ObjectMapping
from connector.crm.described import Descriptions
from connector.crm.hubspot import incremental
from connector.crm.hubspot.client import BATCH_LIMIT, HubSpotClient, Owner
from connector.crm.hubspot.describe import TEXT_TYPES, ObjectProperties
from connector.crm.hubspot.ledger import TaskLedger
from connector.crm.hubspot.read import plan_read, read_object, source_of, where_columns
from connector.crm.hubspot.write import update_records
from connector.crm.protocol import (
    ApiUsage,
    ExistingTask,
    FieldUpdate,
    MappingProblem,
    TaskIntent,
    WriteResult,
)
from connector.engine.expressions import compile_sql
from connector.errors import ConnectorError, CrmError, ExpressionError
from connector.settings import Settings
from connector.store import HistoryStore, ReadPolicy

OBJECT_TYPE_IDS = {
    "companies": "0-2",
    "contacts": "0-1",
    "deals": "0-3",
    "meetings": "0-47",
    "tasks": "0-27",
}


class HubSpotAdapter:
    def __init__(
        self, settings: Settings, mapping: Mapping, store: HistoryStore | None = None
    ) -> None:
        """`store` holds the task ledger and the mirror incremental reads merge into;
        without one (validate, doctor) tasks are refused and every read is a full one, as
        with CRM_FULL_READ_EVERY_DAYS=0."""
        self.usage = ApiUsage()
        self.max_write_batch = BATCH_LIMIT
        self._api = HubSpotClient(settings, self.usage)
        self._app_url = settings.hubspot_app_url.rstrip("/")
        self._portal_id = settings.hubspot_portal_id
        self._run_date = settings.today  # what a mapping's `where` counts from
        self._mirror = store if settings.crm_full_read_every_days else None
        self._policy = ReadPolicy(settings.crm_read_overlap, settings.crm_full_read_every)
        self._properties = Descriptions(  # HubSpot answers 400 for an unknown object type
            self._api.properties, settings.crm_concurrency, lambda exc: exc.status in (400, 404)
        )
        self._owners: dict[str, Owner] | None = None
        self._caching = threading.Lock()  # reads run side by side: list owners once
        self._book = (
            TaskLedger(
                self._api,
                store,
                mapping.tasks,
                mapping.account.object,
                settings.zone,
                None if self._mirror is None else self._policy,
            )
            if store is not None
            else None
        )

    def close(self) -> None:
        self._api.close()

    def record_url(self, object_name: str, record_id: str) -> str:
        type_id = OBJECT_TYPE_IDS.get(object_name, object_name)
        return f"{self._app_url}/contacts/{self._portal_id}/record/{type_id}/{record_id}"

    def describe(self, object_type: str) -> ObjectProperties:
        return self._properties.get(object_type)

    def token_scopes(self) -> list[str] | None:
        """The access token's scopes; None when HubSpot tells them only for private apps'
        tokens and this is another kind."""
        try:
            return self._api.token_scopes()
        except CrmError as exc:
            if exc.status in (400, 404):
                return None
            raise

    def create_property(
        self, object_type: str, group: PropertyGroupCreate, spec: PropertyCreate
    ) -> None:
        """What Settings → Properties → Create property does (for `doctor --apply`)."""
        self._api.create_property(object_type, group, spec)
        self._properties.forget(object_type)  # describe must see the new property

    # -- mapping checks ------------------------------------------------------------------

    def check_mapping(self, mapping: Mapping) -> list[MappingProblem]:
        specs = mapping.objects().values()  # described side by side, then checked in order
        self._properties.ask_all([*(spec.object for spec in specs), mapping.tasks.object])
        problems: list[MappingProblem] = []
        for key, spec in mapping.objects().items():
            described = self._describe_or_report(spec.object, (key, "object"), problems)
            if described is None:
                continue
            for canonical, path in spec.fields.items():
                try:
                    source_of(described, path)
                except CrmError as exc:
                    problems.append(MappingProblem((key, "fields", canonical), str(exc)))
            if spec.where:
                try:
                    compile_sql(spec.where, where_columns(described))
                except ExpressionError as exc:
                    problems.append(MappingProblem((key, "where"), f"{exc} (property names)"))
        account = self._describe_or_report(mapping.account.object, ("account", "object"), [])
        if account is not None:
            for column_name, name in mapping.results.items():
                problem = _unwritable(account, name)
                if problem:
                    problems.append(MappingProblem(("results", column_name), problem))
        tasks = self._describe_or_report(mapping.tasks.object, ("tasks", "object"), problems)
        if tasks is not None:
            key_property = tasks.get(mapping.tasks.key_field)
            if key_property is None or key_property.type != "string" or key_property.read_only:
                problems.append(
                    MappingProblem(
                        ("tasks", "key_field"),
                        f"tasks need a writable single-line text property "
                        f"'{mapping.tasks.key_field}' to carry each action's key; create it "
                        "in Settings → Properties → Task properties.",
                    )
                )
        return problems

    def check_text_fields(self, object_name: str, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        described = self.describe(object_name)
        refused = {}
        for name in names:
            info = described.get(name)
            if info is None:
                refused[name] = described.missing(name)
            elif info.read_only or info.type not in TEXT_TYPES:
                refused[name] = (
                    f"'{name}' ({info.type}), which is not a writable text or dropdown property."
                )
        return refused

    def _describe_or_report(
        self, object_type: str, loc: tuple[str, ...], problems: list[MappingProblem]
    ) -> ObjectProperties | None:
        try:
            return self.describe(object_type)
        except CrmError as exc:
            if exc.status not in (400, 404):
                raise
            problems.append(
                MappingProblem(
                    loc,
                    f"HubSpot has no object type '{object_type}' (use companies, contacts, "
                    "deals, meetings, tasks or a custom object's name).",
                )
            )
            return None

    # -- the protocol: reads and writes --------------------------------------------------

    def read(self, spec: ObjectMapping, extra_fields: dict[str, str]) -> pl.DataFrame:
        described = self.describe(spec.object)
        if self._mirror is None:
            return read_object(
                self._api, described, spec, extra_fields, self._owner_index, self._run_date
            )
        reading = incremental.Reading(
            self._api, self._mirror, described, plan_read(described, spec, extra_fields)
        )
        now = datetime.now(UTC)
        return incremental.read_mirrored(
            reading, self._policy, self._owner_index, self._run_date, now
        )

    def _owner_index(self) -> dict[str, Owner]:
        with self._caching:
            if self._owners is None:
                self._owners = self._api.owners()
            return self._owners

    @property
    def _tasks(self) -> TaskLedger:
        if self._book is None:
            raise ConnectorError("HubSpot tasks are created through the history store's ledger.")
        return self._book

    def read_keyed_tasks(self) -> None:
        if self._book is not None:
            self._book.read_mirror()

    def find_tasks(self, keys: pl.Series) -> dict[str, ExistingTask]:
        return self._tasks.find(keys.to_list())

    def recent_tasks(self, rule_ids: Sequence[str], closed_since: date) -> list[ExistingTask]:
        return self._tasks.recent(rule_ids, closed_since)

    # -- writes --------------------------------------------------------------------------

    def write_calls(self, records: int) -> int:
        return math.ceil(records / BATCH_LIMIT)

    def update_records(
        self, object_name: str, updates: Sequence[FieldUpdate], into: WriteResult | None = None
    ) -> WriteResult:
        return update_records(
            self._api, object_name, updates, WriteResult() if into is None else into
        )

    def create_tasks(
        self, tasks: Sequence[TaskIntent], into: WriteResult | None = None
    ) -> WriteResult:
        return self._tasks.create(tasks, WriteResult() if into is None else into)


def _unwritable(described: ObjectProperties, name: str) -> str | None:
    info = described.get(name)
    if info is None:
        return described.missing(name)
    if info.read_only:
        return f"'{name}' is read-only (calculated or set by HubSpot); map a custom property."
    return None
