"""sObject Collections: up to 200 records created, updated or upserted in one call, each with
its own result in request order, all rolled back together when the caller asks allOrNone.

A body Salesforce cannot read (bad JSON types, unknown fields, too many records) fails the
whole call before any record is written; a record the org refuses fails only that record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.sandbox.salesforce.errors import ErrorDetail, RecordRejected, SalesforceError
from connector.sandbox.salesforce.records import RecordStore
from connector.sandbox.salesforce.schema import ObjectSchema, require_object
from connector.sandbox.salesforce.values import FieldTypeError, prepare

MAX_RECORDS = 200
_ROLLED_BACK = ErrorDetail(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)

# (store, object, prepared values) → (Id, created)
Write = Callable[[RecordStore, str, dict[str, Any]], tuple[str, bool]]


@dataclass(frozen=True)
class Collection:
    all_or_none: bool
    records: tuple[tuple[str, dict[str, Any]], ...]  # (object, values in stored form)


def parse_collection(
    body: Any, schema: Mapping[str, ObjectSchema], *, sobject: str | None = None
) -> Collection:
    """A collection request body, checked as Salesforce checks it before writing anything.
    `sobject` is the object in the URL of an upsert."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SalesforceError(
            "JSON_PARSER_ERROR", "The request body must be an object with a records array."
        )
    if len(body["records"]) > MAX_RECORDS:
        raise SalesforceError(
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
        )
    records = tuple(parse_record(raw, schema, sobject) for raw in body["records"])
    return Collection(bool(body.get("allOrNone", False)), records)


def create(store: RecordStore, sobject: str, values: dict[str, Any]) -> tuple[str, bool]:
    return store.create(sobject, values), True


def update(store: RecordStore, sobject: str, values: dict[str, Any]) -> tuple[str, bool]:
    fields = {name: value for name, value in values.items() if name != "Id"}
    return store.update(sobject, values.get("Id"), fields), False


def upsert_by(key_field: str) -> Write:
    def upsert(store: RecordStore, sobject: str, values: dict[str, Any]) -> tuple[str, bool]:
        return store.upsert(sobject, key_field, values)

    return upsert


def run_collection(
    store: RecordStore, collection: Collection, write: Write, *, report_created: bool
) -> list[dict[str, Any]]:
    """One result per record; upsert results (`report_created`) also say which were new."""
    savepoint = store.savepoint() if collection.all_or_none else None
    results = []
    for sobject, values in collection.records:
        try:
            record_id, created = write(store, sobject, values)
            result: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
        except RecordRejected as rejected:
            created = False
            result = {"success": False, "errors": [e.to_json() for e in rejected.errors]}
        if report_created:
            result["created"] = created
        results.append(result)
    if savepoint is not None and not all(r["success"] for r in results):
        store.restore(savepoint)
        for result in results:
            if result["success"]:
                result.update(success=False, errors=[_ROLLED_BACK.to_json()])
                if report_created:
                    result["created"] = False
    return results


def parse_record(
    raw: Any, schema: Mapping[str, ObjectSchema], sobject: str | None = None
) -> tuple[str, dict[str, Any]]:
    """One record of a request body: its object (from `attributes`, unless the URL names it)
    and its values in stored form."""
    attributes = raw.get("attributes") if isinstance(raw, dict) else None
    type_name = sobject or (attributes.get("type") if isinstance(attributes, dict) else None)
    if not isinstance(raw, dict) or not type_name:
        raise SalesforceError("INVALID_TYPE", "Must send a concrete entity type.")
    obj = require_object(schema, str(type_name))
    try:
        values = prepare(obj, {k: v for k, v in raw.items() if k != "attributes"})
    except FieldTypeError as error:
        raise SalesforceError("JSON_PARSER_ERROR", str(error)) from None
    return obj.name, values
