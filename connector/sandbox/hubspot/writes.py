"""Batch create and update as HubSpot does them: each input is checked and written on its
own (a bad input fails alone, with HubSpot's error body in the 207's `errors`), derived
properties follow their sources, and results come back in no particular order."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.sandbox.hubspot.errors import batch_answer, standard_error, validation_error
from connector.sandbox.hubspot.object_types import OBJECT_TYPES, association_target
from connector.sandbox.hubspot.objects import MAX_BATCH, object_json, too_many_inputs
from connector.sandbox.hubspot.properties import STANDARD, InvalidValue, iso_millis, normalise
from connector.sandbox.hubspot.store import CrmStore, Record

CLOSED_STAGES = ("closedwon", "closedlost")


class InputRejected(Exception):
    """One batch input refused; the others carry on."""

    def __init__(self, category: str, message: str, details: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.details = list(details)


@dataclass(frozen=True)
class ValidationRule:
    """Refuses an input whose values, as they would be saved, satisfy `refuses`."""

    refuses: Callable[[Mapping[str, str]], bool]
    message: str


@dataclass(frozen=True)
class Batch:
    """Where a batch writes and how: the search lag its writes are indexed with, and the
    validation rules a test arranged."""

    store: CrmStore
    object_type: str
    lag_seconds: float
    rules: tuple[ValidationRule, ...] = ()

    def check(self, values: Mapping[str, str | None]) -> None:
        saved = {name: value for name, value in values.items() if value is not None}
        for rule in self.rules:
            if rule.refuses(saved):
                raise InputRejected("VALIDATION_ERROR", rule.message)

    @property
    def started(self) -> str:
        return iso_millis(self.store.clock())


def batch_update(batch: Batch, inputs: Sequence[Mapping[str, Any]]) -> tuple[int, dict[str, Any]]:
    """A BatchInputSimplePublicObjectBatchInput: 200, or 207 when some inputs failed."""
    _check_size(inputs)
    ids = [item["id"] for item in inputs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise validation_error(
            f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
        )
    started = batch.started
    results, errors = [], []
    table = batch.store.records[batch.object_type]
    for item in inputs:
        trace = item.get("objectWriteTraceId")
        context = {"objectWriteTraceId": [trace]} if trace else {"ids": [item["id"]]}
        try:
            record = table.get(item["id"])
            if record is None:
                raise InputRejected("OBJECT_NOT_FOUND", _not_found(batch.object_type))
            changes = prepare(batch.store, batch.object_type, item["properties"])
            batch.check({**record.values, **changes})
            apply_changes(batch, record, changes)
        except InputRejected as rejected:
            errors.append(_error(rejected, context))
            continue
        names = [n for n in item["properties"] if n not in STANDARD]
        results.append(_result(record, [*names, *STANDARD], trace))
    return _answer(batch, started, results, errors, ok=200)


def batch_create(batch: Batch, inputs: Sequence[Mapping[str, Any]]) -> tuple[int, dict[str, Any]]:
    """A BatchInputSimplePublicObjectBatchInputForCreate: 201, or 207 when some failed."""
    _check_size(inputs)
    started = batch.started
    results, errors = [], []
    for item in inputs:
        trace = item.get("objectWriteTraceId")
        context = {"objectWriteTraceId": [trace]} if trace else {}
        try:
            changes = prepare(batch.store, batch.object_type, item["properties"], creating=True)
            batch.check(changes)
            links = _association_targets(batch.store, batch.object_type, item.get("associations"))
        except InputRejected as rejected:
            errors.append(_error(rejected, context))
            continue
        record = batch.store.new_record(batch.object_type, {}, batch.lag_seconds)
        apply_changes(batch, record, changes)
        for to_type, to_id in links:
            batch.store.link(batch.object_type, record.id, to_type, to_id)
        results.append(_result(record, [*record.values, *STANDARD], trace))
    return _answer(batch, started, results, errors, ok=201)


def prepare(
    store: CrmStore,
    object_type: str,
    properties: Mapping[str, str | None],
    *,
    creating: bool = False,
    allow_read_only: bool = False,
) -> dict[str, str | None]:
    """The values to store for an input's properties, or InputRejected with every invalid
    one in HubSpot's "Property values were not valid" list."""
    schema = store.schema[object_type]
    owners = store.active_owner_ids()
    values: dict[str, str | None] = {}
    problems: list[InvalidValue] = []
    for name, raw in properties.items():
        spec = schema.get(name)
        try:
            if spec is None:
                raise InvalidValue(
                    name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
                )
            if spec.read_only and not allow_read_only:
                message = f"{name} is a read only property; its value cannot be set."
                raise InvalidValue(name, "READ_ONLY_VALUE", message)
            values[name] = None if raw is None else normalise(spec, raw, owners)
        except InvalidValue as invalid:
            problems.append(invalid)
    if creating:
        problems += [
            InvalidValue(spec.name, "REQUIRED_PROPERTY", f"{spec.name} is required")
            for spec in schema.values()
            if spec.required_on_create
            and values.get(spec.name) is None
            and spec.name not in {p.name for p in problems}
        ]
    if problems:
        listed = json.dumps([p.to_json() for p in problems], separators=(",", ":"))
        details = [
            {"message": p.message, "code": p.error, "context": {"propertyName": [p.name]}}
            for p in problems
        ]
        raise InputRejected(
            "VALIDATION_ERROR", f"Property values were not valid: {listed}", details
        )
    return values


def apply_changes(batch: Batch, record: Record, changes: Mapping[str, str | None]) -> None:
    """Write the values, then the properties HubSpot derives from them; a write that
    changes nothing leaves hs_lastmodifieddate alone."""
    before = dict(record.values)
    now = batch.store.clock()
    for name, value in changes.items():
        if value is None:
            if record.values.pop(name, None) is not None:
                record.cleared.add(name)
        else:
            record.values[name] = value
            record.cleared.discard(name)
    _derive(record, before, now)
    if record.values != before or not before:
        record.updated_at = now
        record.index(batch.lag_seconds, now)


def _derive(record: Record, before: Mapping[str, str], now: datetime) -> None:
    values = record.values
    if record.object_type == "deals":
        values["hs_is_closed"] = str(values.get("dealstage") in CLOSED_STAGES).lower()
        values["hs_is_closed_won"] = str(values.get("dealstage") == "closedwon").lower()
    if record.object_type == "tasks":
        status = values.get("hs_task_status")
        if status != "COMPLETED":
            values.pop("hs_task_completion_date", None)
        elif before.get("hs_task_status") != "COMPLETED":
            values["hs_task_completion_date"] = iso_millis(now)


def _association_targets(
    store: CrmStore, object_type: str, associations: Sequence[Mapping[str, Any]] | None
) -> list[tuple[str, str]]:
    targets = []
    for association in associations or ():
        to_id = association["to"]["id"]
        for spec in association["types"]:
            type_id = spec["associationTypeId"]
            to_type = association_target(object_type, type_id)
            if to_type is None or spec["associationCategory"] != "HUBSPOT_DEFINED":
                message = (
                    f"{spec['associationCategory']} association type {type_id} is not valid "
                    f"for {OBJECT_TYPES[object_type].error_name} objects"
                )
                raise InputRejected("VALIDATION_ERROR", message)
            if to_id not in store.records[to_type]:
                name = OBJECT_TYPES[to_type].error_name
                message = f"Could not find {name} object with id {to_id} to associate with"
                raise InputRejected("VALIDATION_ERROR", message)
            targets.append((to_type, to_id))
    return targets


def _check_size(inputs: Sequence[Mapping[str, Any]]) -> None:
    if len(inputs) > MAX_BATCH:
        raise too_many_inputs(len(inputs))


def _not_found(object_type: str) -> str:
    return (
        f"Could not get some {OBJECT_TYPES[object_type].error_name} objects, they may be "
        "deleted or not exist. Check that ids are valid."
    )


def _result(record: Record, names: Sequence[str], trace: str | None) -> dict[str, Any]:
    result = object_json(record, list(dict.fromkeys(names)))
    if trace:
        result["objectWriteTraceId"] = trace
    return result


def _error(rejected: InputRejected, context: dict[str, list[str]]) -> dict[str, Any]:
    return standard_error(rejected.category, rejected.message, context, rejected.details)


def _answer(
    batch: Batch,
    started: str,
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    *,
    ok: int,
) -> tuple[int, dict[str, Any]]:
    """HubSpot does not promise input order; results come back reversed so clients that
    assume it break here rather than in production."""
    return batch_answer(results[::-1], errors, started=started, completed=batch.started, ok=ok)
