"""Salesforce behind the CRM protocol: SOQL reads, sObject Collection writes, keyed upserts.

`client` makes and retries the calls, `read` and `write` speak SOQL and Collections; this
class checks the mapping against the org's describe and serves `doctor`.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from connector.config.mapping import Mapping, ObjectMapping
from connector.crm.protocol import (
    ExistingTask,
    FieldUpdate,
    MappingProblem,
    TaskIntent,
    WriteResult,
)
from connector.crm.salesforce import incremental, read, task_mirror, write
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.date_literals import anchored
from connector.crm.salesforce.describe import ObjectDescription
from connector.errors import CrmError
from connector.settings import Settings
from connector.store import HistoryStore, ReadPolicy

TEXT_TYPES = {"string", "textarea", "picklist", "email", "phone", "url"}


class SalesforceAdapter:
    def __init__(
        self, settings: Settings, mapping: Mapping, store: HistoryStore | None = None
    ) -> None:
        """`store` keeps the mirror incremental reads merge into; without it (or with
        CRM_FULL_READ_EVERY_DAYS=0) every read is a full one."""
        self._client = SalesforceClient(settings, mapping.api_version)
        self.usage = self._client.usage
        self.max_write_batch = write.COLLECTION_LIMIT
        self._tasks = mapping.tasks
        self._zone = settings.zone
        self._store = store if settings.crm_full_read_every_days else None
        self._policy = ReadPolicy(settings.crm_read_overlap, settings.crm_full_read_every)
        self._as_of = settings.as_of_date  # None: SOQL's date literals count from today
        self._keyed_tasks: task_mirror.KeyedTasks | None = None  # refreshed once, until we write
        # a first run reads every mapped object whole: their counts come in one call
        self._client.count_together(spec.object for spec in mapping.objects().values())

    def close(self) -> None:
        self._client.close()

    def record_url(self, object_name: str, record_id: str) -> str:
        return f"https://{self._client.instance}/lightning/r/{object_name}/{record_id}/view"

    def describe(self, sobject: str) -> ObjectDescription:
        return self._client.describe(sobject)

    # -- mapping checks ------------------------------------------------------------------

    def check_mapping(self, mapping: Mapping) -> list[MappingProblem]:
        self._describe_ahead(mapping)
        problems: list[MappingProblem] = []
        for key, spec in mapping.objects().items():
            described = self._describe_or_report(spec.object, (key, "object"), problems)
            if described is None:
                continue
            for canonical, path in spec.fields.items():
                try:
                    read.resolve(self._client, spec.object, path)
                except CrmError as exc:
                    problems.append(MappingProblem((key, "fields", canonical), str(exc)))
            try:
                self._where(spec)
            except CrmError as exc:
                problems.append(MappingProblem((key, "where"), str(exc)))
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
                            "its field-level security (`cs-connector doctor --apply` "
                            "assigns the CS_Connector permission set that does).",
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

    def _describe_ahead(self, mapping: Mapping) -> None:
        """The mapped objects side by side, then the objects their relationship paths
        reach (`Owner.Email`: User): the checks, then the reads, find them described."""
        specs = mapping.objects().values()
        self._client.describe_all([*(spec.object for spec in specs), mapping.tasks.object])
        parents = []
        for spec in specs:
            try:
                described = self.describe(spec.object)
            except CrmError:
                continue  # reported by the check that follows
            for path in spec.fields.values():
                relationship = path.rpartition(".")[0]
                reference = described.relationship(relationship) if relationship else None
                if reference is not None and reference.reference_to:
                    parents.append(reference.reference_to[0])
        self._client.describe_all(parents)

    def check_text_fields(self, object_name: str, names: Sequence[str]) -> dict[str, str]:
        if not names:
            return {}
        described = self.describe(object_name)
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

    # -- doctor --------------------------------------------------------------------------

    def api_versions(self) -> list[str]:
        """The REST API versions the org serves (GET /services/data)."""

        def list_versions(sf: Salesforce) -> Any:
            response = sf.session.get(
                sf.base_url.split("/services/data/")[0] + "/services/data/", headers=sf.headers
            )
            response.raise_for_status()
            return response.json()

        return [str(version["version"]) for version in self._client.call(list_versions)]

    def limits(self) -> dict[str, Any]:
        return dict(self._client.call(lambda sf: sf.limits()))

    def create_custom_field(self, full_name: str, metadata: dict[str, Any]) -> None:
        """Create a field through the Tooling API (what Setup → New Field does)."""
        body = {"FullName": full_name, "Metadata": metadata}
        self._client.call(
            lambda sf: sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
        )
        self._client.forget_describe(full_name.split(".")[0])

    def grant_field_access(self, name: str, label: str, fields: Sequence[str]) -> None:
        """Edit access to `fields` ("Account.CS_X__c") for the running user, through the
        permission set `name`: created if missing, completed, and assigned to the user."""
        user_id = self._client.user_id()
        found = list(
            self._client.query(format_soql("SELECT Id FROM PermissionSet WHERE Name = {}", name))
        )
        parent = found[0]["Id"] if found else self._create("PermissionSet", Name=name, Label=label)
        granted = {
            row["Field"].lower()
            for row in self._client.query(
                format_soql(
                    "SELECT Field FROM FieldPermissions WHERE ParentId = {} "
                    "AND PermissionsEdit = true",
                    parent,
                )
            )
        }
        records = [
            {
                "attributes": {"type": "FieldPermissions"},
                "ParentId": parent,
                "SobjectType": field.split(".")[0],
                "Field": field,
                "PermissionsRead": True,
                "PermissionsEdit": True,
            }
            for field in fields
            if field.lower() not in granted
        ]
        write.create_records(self._client, records)
        assigned = self._client.query(
            format_soql(
                "SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = {} "
                "AND AssigneeId = {}",
                parent,
                user_id,
            )
        )
        if next(assigned, None) is None:
            self._create("PermissionSetAssignment", PermissionSetId=parent, AssigneeId=user_id)
        for sobject in {field.split(".")[0] for field in fields}:
            self._client.forget_describe(sobject)

    def _create(self, sobject: str, **values: Any) -> str:
        result = self._client.call(lambda sf: getattr(sf, sobject).create(values))
        return str(result["id"])

    # -- the protocol: reads and writes --------------------------------------------------

    def read(self, spec: ObjectMapping, extra_fields: dict[str, str]) -> pl.DataFrame:
        spec = self._dated(spec)
        if self._store is None:
            return read.read_object(self._client, spec, extra_fields, spec.where)
        planned = incremental.plan_read(self._client, spec, extra_fields)
        now = datetime.now(UTC)
        return incremental.read_mirrored(self._client, self._store, planned, self._policy, now)

    def _dated(self, spec: ObjectMapping) -> ObjectMapping:
        """`spec` with its filter dated (`_where`); an incremental read fingerprints the dated
        filter, so a moved AS_OF_DATE reads the object in full."""
        where = self._where(spec)
        return spec if where == spec.where else spec.model_copy(update={"where": where})

    def _where(self, spec: ObjectMapping) -> str | None:
        """The mapping's filter; with AS_OF_DATE, its relative dates counted from that day."""
        if spec.where is None or self._as_of is None:
            return spec.where
        return anchored(
            spec.where,
            self._as_of,
            self._zone,
            lambda path: read.resolve(self._client, spec.object, path)[1].type,
        )

    def read_keyed_tasks(self) -> None:
        self._mirrored_tasks()

    def find_tasks(self, keys: pl.Series) -> collections.abc.Mapping[str, ExistingTask]:
        mirrored = self._mirrored_tasks() if len(keys) else None
        if mirrored is None:
            return read.find_tasks(self._client, self._tasks, keys, self._zone)
        return mirrored.find(keys)

    def recent_tasks(self, rule_ids: Sequence[str], closed_since: date) -> Sequence[ExistingTask]:
        mirrored = self._mirrored_tasks() if rule_ids else None
        if mirrored is None:
            return read.recent_tasks(self._client, self._tasks, rule_ids, closed_since, self._zone)
        return mirrored.recent(rule_ids, closed_since)

    def _mirrored_tasks(self) -> task_mirror.KeyedTasks | None:
        """The keyed tasks from the store's mirror, refreshed by what changed; None without
        a store (or with CRM_FULL_READ_EVERY_DAYS=0): then each ask is its key look-ups."""
        if self._store is None:
            return None
        if self._keyed_tasks is None:
            now = datetime.now(UTC)
            records = task_mirror.refreshed(
                self._client, self._store, self._tasks, self._policy, now
            )
            self._keyed_tasks = task_mirror.KeyedTasks(records, self._zone)
        return self._keyed_tasks

    def write_calls(self, records: int) -> int:
        return write.write_calls(self._client, records)

    def update_records(
        self, object_name: str, updates: Sequence[FieldUpdate], into: WriteResult | None = None
    ) -> WriteResult:
        self._keyed_tasks = None  # an email's log is a keyed task, completed by an update
        return write.update_records(
            self._client, object_name, updates, WriteResult() if into is None else into
        )

    def create_tasks(
        self, tasks: Sequence[TaskIntent], into: WriteResult | None = None
    ) -> WriteResult:
        self._keyed_tasks = None  # the next ask reads these writes by their SystemModstamp
        return write.upsert_tasks(
            self._client, self._tasks, tasks, WriteResult() if into is None else into
        )
