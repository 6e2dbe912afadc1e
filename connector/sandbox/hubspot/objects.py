"""Reading records the way the objects API answers: a page of a type in id order with
inline associations, or a batch read by id; every returned value is a string or null."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.sandbox.hubspot.errors import (
    HubSpotError,
    batch_answer,
    standard_error,
    validation_error,
)
from connector.sandbox.hubspot.object_types import OBJECT_TYPES, association_label
from connector.sandbox.hubspot.properties import DEFAULT_RETURNED, STANDARD, iso_millis
from connector.sandbox.hubspot.store import CrmStore, Record, sorted_records

MAX_PAGE = 100
MAX_BATCH = 100


@dataclass(frozen=True)
class PageRequest:
    limit: int = 10
    after: str | None = None
    properties: tuple[str, ...] | None = None
    associations: tuple[str, ...] = ()
    archived: bool = False


def returned_names(store: CrmStore, object_type: str, requested: Iterable[str] | None) -> list[str]:
    """The properties a read returns: those asked for that exist (unknown names are
    ignored, as HubSpot does), or the type's default set, then the standard three."""
    names = DEFAULT_RETURNED[object_type] if requested is None else requested
    known = store.schema[object_type]
    picked = [name for name in dict.fromkeys(names) if name in known and name not in STANDARD]
    return [*picked, *STANDARD]


def object_json(
    record: Record, names: Sequence[str], values: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A SimplePublicObject; `values` overrides the record's current ones (search's view).
    A property that was cleared reads as "", as HubSpot returns it; one never set as null."""
    current = record.properties() if values is None else values
    cleared = record.cleared if values is None else set()
    return {
        "id": record.id,
        "properties": {name: current.get(name, "" if name in cleared else None) for name in names},
        "createdAt": iso_millis(record.created_at),
        "updatedAt": iso_millis(record.updated_at),
        "archived": record.archived_at is not None,
        **({} if record.archived_at is None else {"archivedAt": iso_millis(record.archived_at)}),
    }


def get_page(store: CrmStore, object_type: str, request: PageRequest) -> dict[str, Any]:
    if not 1 <= request.limit <= MAX_PAGE:
        raise validation_error(f"limit must be between 1 and {MAX_PAGE}, got {request.limit}")
    start = _cursor(request.after)
    if request.archived:
        table = sorted_records(store.archived[object_type].values())
        remaining = table[bisect.bisect_left(table, start, key=lambda record: int(record.id)) :]
        page = remaining[: request.limit]
        after = remaining[request.limit].id if len(remaining) > request.limit else None
    else:
        page, after = store.page(object_type, start, request.limit)
    names = returned_names(store, object_type, request.properties)
    results = []
    for record in page:
        body = object_json(record, names)
        associations = _associations(store, record, request.associations)
        if associations:
            body["associations"] = associations
        results.append(body)
    response: dict[str, Any] = {"results": results}
    if after is not None:
        response["paging"] = {"next": {"after": after}}
    return response


def _cursor(after: str | None) -> int:
    if after is None:
        return 0
    if not after.isdigit():
        raise validation_error(f"Invalid 'after' paging cursor: {after}")
    return int(after)


def _associations(store: CrmStore, record: Record, to_types: Iterable[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for to_type in to_types:
        if to_type not in OBJECT_TYPES:
            continue
        ids = store.linked(record.object_type, record.id, to_type)
        if ids:
            label = association_label(record.object_type, to_type)
            found[to_type] = {"results": [{"id": i, "type": label} for i in ids]}
    return found


def batch_read(
    store: CrmStore, object_type: str, body: Mapping[str, Any], now: str
) -> tuple[int, dict[str, Any]]:
    """A BatchReadInputSimplePublicObjectId answered: 200, or 207 naming the missing ids."""
    inputs = [item["id"] for item in body["inputs"]]
    if len(inputs) > MAX_BATCH:
        raise too_many_inputs(len(inputs))
    names = returned_names(store, object_type, body["properties"])
    table = store.records[object_type]
    id_property = body.get("idProperty")
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    for wanted in dict.fromkeys(inputs):
        record = _find(table.values(), id_property, wanted) if id_property else table.get(wanted)
        if record is None:
            missing.append(wanted)
            continue
        result = object_json(record, names)
        history = _history(record, body["propertiesWithHistory"], store)
        if history:
            result["propertiesWithHistory"] = history
        results.append(result)
    message = (
        f"Could not get some {OBJECT_TYPES[object_type].error_name} objects, they may be "
        "deleted or not exist. Check that ids are valid."
    )
    errors = [standard_error("OBJECT_NOT_FOUND", message, {"ids": missing})] if missing else []
    return batch_answer(results, errors, started=now, completed=now)


def _find(records: Iterable[Record], id_property: str, value: str) -> Record | None:
    return next((r for r in records if r.properties().get(id_property) == value), None)


def _history(record: Record, names: Iterable[str], store: CrmStore) -> dict[str, Any]:
    """Only the current value is kept, so that is each property's whole history."""
    current = record.properties()
    known = store.schema[record.object_type]
    return {
        name: [
            {
                "value": current[name],
                "timestamp": iso_millis(record.updated_at),
                "sourceType": "API",
            }
        ]
        for name in names
        if name in known and name in current
    }


def too_many_inputs(count: int) -> HubSpotError:
    return validation_error(
        f"Batch input size must be at most {MAX_BATCH}, but was {count}. "
        "Please split the request into smaller batches."
    )
