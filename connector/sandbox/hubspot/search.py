"""The search endpoint: filter groups (OR of ANDs) over what the search index has seen,
with HubSpot's limits on request size and reachable results, and its index lag: a write
shows up in search only `lag_seconds` after it was made."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.sandbox.hubspot.errors import validation_error
from connector.sandbox.hubspot.objects import object_json, returned_names
from connector.sandbox.hubspot.properties import PropertySpec, to_millis
from connector.sandbox.hubspot.store import CrmStore, Record

MAX_LIMIT = 200
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_VALUES = 100
MAX_REACHABLE = 10_000


def search(
    store: CrmStore,
    object_type: str,
    request: Mapping[str, Any],
    lag_seconds: float,
    reachable: int = MAX_REACHABLE,
) -> dict[str, Any]:
    """A PublicObjectSearchRequest answered as CollectionResponseWithTotal…ForwardPaging;
    `total` counts every match, but only the first `reachable` can be paged to."""
    schema = store.schema[object_type]
    groups = request.get("filterGroups") or []
    _check_limits(groups)
    for group in groups:
        for spec in group["filters"]:
            if spec["propertyName"] not in schema:
                raise validation_error(f'Property "{spec["propertyName"]}" does not exist')
    limit = request.get("limit", 10)
    if not 1 <= limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    offset = _offset(request.get("after"))
    if offset + limit > reachable:
        raise validation_error(
            f"Search results are limited to {reachable} total results; after ({offset}) "
            f"plus limit ({limit}) exceeds that."
        )
    now = store.clock()
    seen: list[tuple[Record, Mapping[str, str]]] = []
    for record in store.records[object_type].values():  # kept in id order
        values = record.searchable(lag_seconds, now)
        if values is not None and _matches(values, groups, schema, request.get("query")):
            seen.append((record, values))
    seen = _sorted(seen, request.get("sorts") or [], schema)
    names = returned_names(store, object_type, request.get("properties") or None)
    page = seen[offset : offset + limit]
    response: dict[str, Any] = {
        "total": len(seen),
        "results": [object_json(record, names, values) for record, values in page],
    }
    if offset + limit < len(seen):
        response["paging"] = {"next": {"after": str(offset + limit)}}
    return response


def _check_limits(groups: Sequence[Mapping[str, Any]]) -> None:
    if len(groups) > MAX_GROUPS:
        raise validation_error(f"Up to {MAX_GROUPS} filterGroups are allowed, got {len(groups)}")
    total = 0
    for group in groups:
        filters = group["filters"]
        total += len(filters)
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Up to {MAX_FILTERS_PER_GROUP} filters are allowed in a filterGroup, "
                f"got {len(filters)}"
            )
        for spec in filters:
            if len(spec.get("values") or ()) > MAX_VALUES:
                raise validation_error(f"Up to {MAX_VALUES} values are allowed in a filter")
    if total > MAX_FILTERS:
        raise validation_error(f"Up to {MAX_FILTERS} filters are allowed in total, got {total}")


def _offset(after: str | None) -> int:
    if after is None or after == "":
        return 0
    if not after.isdigit():
        raise validation_error(f"Invalid 'after' paging cursor: {after}")
    return int(after)


def _matches(
    values: Mapping[str, str],
    groups: Sequence[Mapping[str, Any]],
    schema: Mapping[str, PropertySpec],
    query: str | None,
) -> bool:
    if query and not any(query.lower() in v.lower() for v in values.values()):
        return False
    if not groups:
        return True
    return any(all(_filter(values, f, schema) for f in group["filters"]) for group in groups)


def _filter(
    values: Mapping[str, str], spec: Mapping[str, Any], schema: Mapping[str, PropertySpec]
) -> bool:
    name = spec["propertyName"]
    prop = schema[name]
    operator = spec["operator"]
    actual = values.get(name)
    if operator == "HAS_PROPERTY":
        return actual is not None
    if operator == "NOT_HAS_PROPERTY":
        return actual is None
    key = _key_for(prop)
    if operator in ("IN", "NOT_IN"):
        wanted = [key(v) for v in spec.get("values") or ()]
        inside = actual is not None and key(actual) in wanted
        return inside if operator == "IN" else not inside
    if operator == "BETWEEN":
        low, high = _operand(spec, "value", key), _operand(spec, "highValue", key)
        return actual is not None and low <= key(actual) <= high
    if operator == "NEQ":
        return actual is None or key(actual) != _operand(spec, "value", key)
    if actual is None:
        return False
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "EQ": lambda a, b: a == b,
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
        "CONTAINS_TOKEN": lambda a, b: str(b).strip("*") in str(a),
        "NOT_CONTAINS_TOKEN": lambda a, b: str(b).strip("*") not in str(a),
    }
    return compare[operator](key(actual), _operand(spec, "value", key))


def _operand(spec: Mapping[str, Any], field: str, key: Callable[[str], Any]) -> Any:
    value = spec.get(field)
    if value is None:
        raise validation_error(f"{spec['operator']} filter on {spec['propertyName']} needs {field}")
    return key(value)


def _key_for(prop: PropertySpec) -> Callable[[str], Any]:
    """How values of this property compare: numbers numerically, dates and datetimes as
    epoch milliseconds (either form may be given), text case-insensitively."""
    if prop.type == "number":
        return _decimal
    if prop.type in ("date", "datetime"):
        return lambda value: _millis(value, prop.type)
    return lambda value: value.lower()


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise validation_error(f"{value} is not a valid number") from None


@functools.lru_cache(maxsize=1 << 16)  # a book's records share few stamps; parsing is the cost
def _millis(value: str, kind: str) -> int:
    millis = to_millis(value, kind)
    if millis is None:
        raise validation_error(f"{value} is not a valid {kind}")
    return millis


def _sorted(
    found: list[tuple[Record, Mapping[str, str]]],
    sorts: Sequence[str],
    schema: Mapping[str, PropertySpec],
) -> list[tuple[Record, Mapping[str, str]]]:
    """`sorts` is a list of strings in the generated model: a property name, "-" first
    for descending. Records without the value sort last."""
    for sort in reversed(sorts):
        name = sort.lstrip("-")
        prop = schema.get(name)
        if prop is None:
            raise validation_error(f'Property "{name}" does not exist')
        key = _key_for(prop)
        present = [item for item in found if item[1].get(name) is not None]
        absent = [item for item in found if item[1].get(name) is None]
        present.sort(key=lambda item: key(item[1][name]), reverse=sort.startswith("-"))
        found = present + absent
    return found
