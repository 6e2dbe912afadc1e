"""Reading Salesforce: mapped objects by SOQL into typed frames, and keyed tasks by key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, tzinfo

import polars as pl
from simple_salesforce.format import format_soql

from connector.config.mapping import ObjectMapping, TaskMapping
from connector.crm.protocol import KEY_SEPARATOR, ExistingTask
from connector.crm.salesforce.bulk import read_frame
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.describe import FieldInfo
from connector.errors import CrmError

KEYS_PER_QUERY = 500  # keeps `IN (...)` well under SOQL's 100,000-character limit


def resolve(client: SalesforceClient, sobject: str, path: str) -> tuple[str, FieldInfo]:
    """`Owner.Email` → ("Owner.Email" in Salesforce's casing, the User.Email field)."""
    described = client.describe(sobject)
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
    parent = client.describe(reference.reference_to[0])
    info = parent.field(name)
    if info is None:
        raise CrmError(parent.missing(name))
    return f"{reference.relationship_name}.{info.name}", info


def read_object(
    client: SalesforceClient, spec: ObjectMapping, extra_fields: dict[str, str], where: str | None
) -> pl.DataFrame:
    """`spec.object`'s records that `where` (the mapping's, dated) keeps, as canonical columns."""
    fields = {**spec.fields, **extra_fields}
    resolved = {canonical: resolve(client, spec.object, path) for canonical, path in fields.items()}
    select = ", ".join(dict.fromkeys(path for path, _ in resolved.values()))
    # Object, fields and filter come from the validated mapping, not from records.
    soql = f"SELECT {select} FROM {spec.object}"  # noqa: S608
    if where:
        soql += f" WHERE {where}"
    soql += " ORDER BY Id"
    return read_frame(client, soql, resolved, expected=client.record_count(spec.object))


def find_tasks(
    client: SalesforceClient, tasks: TaskMapping, keys: pl.Series, zone: tzinfo
) -> dict[str, ExistingTask]:
    found: dict[str, ExistingTask] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys.slice(start, KEYS_PER_QUERY).to_list()
        condition = format_soql("{:literal} IN {}", tasks.key_field, chunk)
        for task in _tasks_where(client, tasks, condition, zone):
            found[task.key] = task
    return found


def recent_tasks(
    client: SalesforceClient,
    tasks: TaskMapping,
    rule_ids: Sequence[str],
    closed_since: date,
    zone: tzinfo,
) -> list[ExistingTask]:
    if not rule_ids:
        return []
    # `:like` escapes LIKE's own wildcards too: a rule id's '_' matches only '_'
    prefixes = " OR ".join(
        format_soql("{:literal} LIKE '{:like}%'", tasks.key_field, rule + KEY_SEPARATOR)
        for rule in rule_ids
    )
    since = datetime.combine(closed_since, time.min, zone)
    condition = format_soql("IsClosed = false OR CompletedDateTime >= {}", since)
    return _tasks_where(client, tasks, f"({prefixes}) AND ({condition})", zone)


def _tasks_where(
    client: SalesforceClient, tasks: TaskMapping, condition: str, zone: tzinfo
) -> list[ExistingTask]:
    key_field = tasks.key_field
    # values are quoted by format_soql; object and field come from the mapping
    soql = (
        f"SELECT Id, {key_field}, IsClosed, CompletedDateTime, OwnerId, CreatedDate "  # noqa: S608
        f"FROM {tasks.object} WHERE {condition}"
    )
    return [
        ExistingTask(
            record[key_field],
            record["Id"],
            bool(record["IsClosed"]),
            date_in(record.get("CompletedDateTime"), zone),
            record.get("OwnerId"),
            date_in(record.get("CreatedDate"), zone),
        )
        for record in client.query(soql)
    ]


def date_in(timestamp: str | None, zone: tzinfo) -> date | None:
    """A Salesforce datetime ('2026-11-20T23:30:00.000+0000') → its date in the team's time
    zone (2026-11-21 in Tokyo): a task completed on a Tokyo morning was completed that day."""
    if not timestamp:
        return None
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(zone).date()
