"""HubSpot portals through hubspot-api-client: paged reads, batch writes, ledgered tasks.

A mapped field is a property's internal name (`lifecyclestage`), an owner property followed
by an owner attribute (`hubspot_owner_id.email`), `hs_object_id` for the record id, or
`associations.<object type>` for the id of the associated record (a deal's company).
`where` is a SQL condition over property names, applied as records are read (the list API
has no filter and search caps at 10,000 results).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from hubspot.crm.objects.models import SimplePublicObjectBatchInput
from hubspot.crm.properties.models import PropertyCreate, PropertyGroupCreate

from connector.config.mapping import Mapping, ObjectMapping
from connector.crm.base import ApiUsage, MappingProblem, WriteFailure, WriteResult
from connector.crm.hubspot_api import BATCH_LIMIT, OWNER_ATTRIBUTES, RECORD_ID, HubSpotApi, Owner
from connector.crm.hubspot_properties import (
    OWNER,
    TEXT_TYPES,
    ObjectProperties,
    PropertyInfo,
    column,
    write_value,
)
from connector.crm.hubspot_tasks import TaskBook
from connector.engine.expressions import ExpressionError, compile_sql
from connector.errors import ConnectorError, CrmError
from connector.plan import ExistingTask, PlannedTask, RecordUpdate
from connector.settings import Settings
from connector.store import HistoryStore

ASSOCIATION_PREFIX = "associations."
OBJECT_TYPE_IDS = {
    "companies": "0-2",
    "contacts": "0-1",
    "deals": "0-3",
    "meetings": "0-47",
    "tasks": "0-27",
}


@dataclass(frozen=True)
class _Source:
    """Where one mapped column comes from."""

    property: str | None = None
    owner_attribute: str | None = None
    association: str | None = None

    def expr(self, name: str, owners: dict[str, Owner]) -> pl.Expr:
        if self.association is not None:
            return pl.col(_association_column(self.association)).alias(name)
        if self.property is None:
            return pl.col("_id").alias(name)
        if self.owner_attribute is None:
            return pl.col(self.property).alias(name)
        values = {i: owner.attribute(self.owner_attribute) for i, owner in owners.items()}
        return (
            pl.col(self.property)
            .replace_strict(values, default=None, return_dtype=pl.String)
            .alias(name)
        )


class HubSpotAdapter:
    def __init__(
        self, settings: Settings, mapping: Mapping, store: HistoryStore | None = None
    ) -> None:
        """`store` holds the task ledger; without one (validate, doctor) tasks are refused."""
        self.usage = ApiUsage()
        self._api = HubSpotApi(settings, self.usage)
        self._app_url = settings.hubspot_app_url.rstrip("/")
        self._portal_id = settings.hubspot_portal_id
        self._properties: dict[str, ObjectProperties] = {}
        self._owners: dict[str, Owner] | None = None
        self._book = (
            TaskBook(self._api, store, mapping.tasks, mapping.account.object)
            if store is not None
            else None
        )

    def close(self) -> None:
        self._api.close()

    def record_url(self, sobject: str, record_id: str) -> str:
        type_id = OBJECT_TYPE_IDS.get(sobject, sobject)
        return f"{self._app_url}/contacts/{self._portal_id}/record/{type_id}/{record_id}"

    def describe(self, object_type: str) -> ObjectProperties:
        if object_type not in self._properties:
            self._properties[object_type] = self._api.properties(object_type)
        return self._properties[object_type]

    def create_property(
        self, object_type: str, group: PropertyGroupCreate, spec: PropertyCreate
    ) -> None:
        """What Settings → Properties → Create property does (for `doctor --apply`)."""
        self._api.create_property(object_type, group, spec)
        self._properties.pop(object_type, None)  # describe must see the new property

    # -- mapping checks ------------------------------------------------------------------

    def check_mapping(self, mapping: Mapping) -> list[MappingProblem]:
        problems: list[MappingProblem] = []
        for key, spec in mapping.objects().items():
            described = self._describe_or_report(spec.object, (key, "object"), problems)
            if described is None:
                continue
            for canonical, path in spec.fields.items():
                try:
                    self._source(spec.object, path)
                except CrmError as exc:
                    problems.append(MappingProblem((key, "fields", canonical), str(exc)))
            if spec.where:
                try:
                    compile_sql(spec.where, list(described.properties))
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

    def check_text_fields(self, sobject: str, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        described = self.describe(sobject)
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

    def _source(self, object_type: str, path: str) -> _Source:
        if path == RECORD_ID:
            return _Source()
        if path.startswith(ASSOCIATION_PREFIX):
            return _Source(association=path.removeprefix(ASSOCIATION_PREFIX))
        described = self.describe(object_type)
        name, _, attribute = path.partition(".")
        info = described.get(name)
        if info is None:
            raise CrmError(described.missing(name))
        if not attribute:
            return _Source(property=name)
        if info.references != OWNER:
            raise CrmError(
                f"'{name}' is not an owner property, so '{path}' cannot be followed; only "
                "owner properties (hubspot_owner_id) have attributes."
            )
        if attribute not in OWNER_ATTRIBUTES:
            raise CrmError(
                f"owners have no attribute '{attribute}'; use one of {', '.join(OWNER_ATTRIBUTES)}."
            )
        return _Source(property=name, owner_attribute=attribute)

    # -- reads ---------------------------------------------------------------------------

    def read(self, spec: ObjectMapping, extra_fields: dict[str, str]) -> pl.DataFrame:
        described = self.describe(spec.object)
        sources = {
            canonical: self._source(spec.object, path)
            for canonical, path in {**spec.fields, **extra_fields}.items()
        }
        where = compile_sql(spec.where, list(described.properties)) if spec.where else None
        needed = {s.property for s in sources.values() if s.property is not None}
        if where is not None:
            needed |= set(where.meta.root_names())
        properties = sorted(needed)
        associations = sorted({s.association for s in sources.values() if s.association})
        records = list(self._api.list_objects(spec.object, properties, associations))
        raw = pl.DataFrame(
            [
                pl.Series("_id", [str(r["id"]) for r in records], pl.String),
                *(
                    column(p, [r["properties"].get(p) for r in records], _info(described, p))
                    for p in properties
                ),
                *(
                    pl.Series(
                        _association_column(a),
                        [_first_associated(r, a) for r in records],
                        pl.String,
                    )
                    for a in associations
                ),
            ]
        )
        if where is not None:
            raw = raw.filter(where)
        owners = self._owner_index() if any(s.owner_attribute for s in sources.values()) else {}
        return raw.select(source.expr(name, owners) for name, source in sources.items())

    def _owner_index(self) -> dict[str, Owner]:
        if self._owners is None:
            self._owners = self._api.owners()
        return self._owners

    @property
    def _tasks(self) -> TaskBook:
        if self._book is None:
            raise ConnectorError("HubSpot tasks are created through the history store's ledger.")
        return self._book

    def find_tasks(self, keys: Sequence[str]) -> dict[str, ExistingTask]:
        return self._tasks.find(keys)

    def recent_tasks(self, rule_ids: Sequence[str], closed_since: date) -> list[ExistingTask]:
        return self._tasks.recent(rule_ids, closed_since)

    # -- writes --------------------------------------------------------------------------

    def update_records(self, sobject: str, updates: Sequence[RecordUpdate]) -> WriteResult:
        result = WriteResult()
        for start in range(0, len(updates), BATCH_LIMIT):
            chunk = updates[start : start + BATCH_LIMIT]
            inputs = [
                SimplePublicObjectBatchInput(
                    id=u.record_id,
                    properties={f: write_value(v) for f, v in u.values().items()},
                    object_write_trace_id=u.record_id,
                )
                for u in chunk
            ]
            try:
                outcome = self._api.update(sobject, inputs)
            except CrmError as exc:
                if exc.status != 400:
                    raise  # not this batch's fault: stop rather than fail every record
                result.failures += [
                    WriteFailure(u.record_id, u.label, exc.code or "ERROR", str(exc)) for u in chunk
                ]
                continue
            written = {str(o.id) for o in outcome.results}
            for update in chunk:
                if update.record_id in written:
                    result.written += 1
                    continue
                code, message = outcome.errors.get(
                    update.record_id, ("NOT_CONFIRMED", "HubSpot did not report this record")
                )
                result.failures.append(WriteFailure(update.record_id, update.label, code, message))
        return result

    def create_tasks(self, tasks: Sequence[PlannedTask]) -> WriteResult:
        return self._tasks.create(tasks)


def _unwritable(described: ObjectProperties, name: str) -> str | None:
    info = described.get(name)
    if info is None:
        return described.missing(name)
    if info.read_only:
        return f"'{name}' is read-only (calculated or set by HubSpot); map a custom property."
    return None


def _info(described: ObjectProperties, name: str) -> PropertyInfo:
    return described.get(name) or PropertyInfo(name, "string")


def _association_column(object_type: str) -> str:
    return f"_associated_{object_type}"


def _first_associated(record: dict[str, Any], object_type: str) -> str | None:
    """The associated record of this type; the primary (labelled) one when there are several."""
    found = (record.get("associations") or {}).get(object_type, {}).get("results")
    if not found:
        return None
    ranked = sorted(found, key=lambda a: str(a["type"]).endswith("unlabeled"))
    return str(ranked[0]["id"])
