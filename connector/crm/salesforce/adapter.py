"""Salesforce behind the CRM protocol: SOQL reads, sObject Collection writes, keyed upserts.

`client` makes and retries the calls, `read` and `write` speak SOQL and Collections; this
class checks the mapping against the org's describe and serves `doctor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl
from simple_salesforce.api import Salesforce

from connector.config.mapping import Mapping, ObjectMapping
from connector.crm.protocol import (
    ExistingTask,
    FieldUpdate,
    MappingProblem,
    TaskIntent,
    WriteResult,
)
from connector.crm.salesforce import read, write
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.describe import ObjectDescription
from connector.errors import CrmError
from connector.settings import Settings

TEXT_TYPES = {"string", "textarea", "picklist", "email", "phone", "url"}


class SalesforceAdapter:
    def __init__(self, settings: Settings, mapping: Mapping) -> None:
        self._client = SalesforceClient(settings, mapping.api_version)
        self.usage = self._client.usage
        self.max_write_batch = write.COLLECTION_LIMIT
        self._tasks = mapping.tasks
        self._zone = settings.zone

    def close(self) -> None:
        self._client.close()

    def record_url(self, object_name: str, record_id: str) -> str:
        return f"https://{self._client.instance}/lightning/r/{object_name}/{record_id}/view"

    def describe(self, sobject: str) -> ObjectDescription:
        return self._client.describe(sobject)

    # -- mapping checks ------------------------------------------------------------------

    def check_mapping(self, mapping: Mapping) -> list[MappingProblem]:
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

    # -- the protocol: reads and writes --------------------------------------------------

    def read(self, spec: ObjectMapping, extra_fields: dict[str, str]) -> pl.DataFrame:
        return read.read_object(self._client, spec, extra_fields)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, ExistingTask]:
        return read.find_tasks(self._client, self._tasks, keys, self._zone)

    def recent_tasks(self, rule_ids: Sequence[str], closed_since: date) -> list[ExistingTask]:
        return read.recent_tasks(self._client, self._tasks, rule_ids, closed_since, self._zone)

    def update_records(self, object_name: str, updates: Sequence[FieldUpdate]) -> WriteResult:
        return write.update_records(self._client, object_name, updates)

    def create_tasks(self, tasks: Sequence[TaskIntent]) -> WriteResult:
        return write.upsert_tasks(self._client, self._tasks, tasks)
