"""The checks a record passes before it is saved, in Salesforce's order: field access, then
required fields and field formats, then the org's custom validation rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.sandbox.salesforce.errors import ErrorDetail
from connector.sandbox.salesforce.ids import normalize_id
from connector.sandbox.salesforce.schema import NUMBER_TYPES, FieldSchema, ObjectSchema

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

# (the field's target object, the Id) → does that record exist?
Exists = Callable[[str, str], bool]


@dataclass(frozen=True)
class ValidationRule:
    """A custom rule: `predicate(record after the write)` True means the write is refused."""

    name: str
    predicate: Callable[[Mapping[str, Any]], bool]
    message: str
    field: str | None = None


def check_record(
    obj: ObjectSchema,
    after: Mapping[str, Any],
    written: Collection[str],
    *,
    creating: bool,
    exists: Exists,
    rules: Sequence[ValidationRule],
) -> list[ErrorDetail]:
    """Every reason to refuse saving `after`; `written` are the fields the request set."""
    fields = [f for f in obj.fields if f.name in written]
    locked = [f.name for f in fields if not (f.createable if creating else f.updateable)]
    if locked:
        return [
            ErrorDetail(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                tuple(locked),
            )
        ]
    errors = _missing(obj, after, written, creating=creating)
    for field in fields:
        errors.extend(_format_errors(field, after[field.name], exists))
    if errors:
        return errors
    return [
        ErrorDetail(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            rule.message,
            (rule.field,) if rule.field else (),
        )
        for rule in rules
        if rule.predicate(dict(after))
    ]


def _missing(
    obj: ObjectSchema, after: Mapping[str, Any], written: Collection[str], *, creating: bool
) -> list[ErrorDetail]:
    missing = [
        f.name
        for f in obj.fields
        if after.get(f.name) is None
        and (f.required if creating else f.name in written and not f.nillable)
    ]
    if not missing:
        return []
    names = ", ".join(missing)
    return [
        ErrorDetail(
            "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{names}]", (*missing,)
        )
    ]


def _format_errors(field: FieldSchema, value: Any, exists: Exists) -> Iterator[ErrorDetail]:
    if value is None:
        return
    where = (field.name,)
    if field.length and isinstance(value, str) and len(value) > field.length:
        yield ErrorDetail(
            "STRING_TOO_LONG",
            f"{field.label}: data value too large: {value[:80]} (max length={field.length})",
            where,
        )
    if field.picklist and value not in field.picklist:
        yield ErrorDetail(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{field.label}: bad value for restricted picklist field: {value}",
            where,
        )
    digits = (field.precision or 0) - (field.scale or 0)
    if field.type in NUMBER_TYPES and field.precision and abs(value) >= 10**digits:
        yield ErrorDetail(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{field.label}: value outside of valid range on numeric field: {value}",
            where,
        )
    if field.type == "email" and not _EMAIL.fullmatch(value):
        yield ErrorDetail(
            "INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {value}", where
        )
    if field.type == "reference":
        yield from _reference_errors(field, value, exists)


def _reference_errors(field: FieldSchema, value: str, exists: Exists) -> Iterator[ErrorDetail]:
    where = (field.name,)
    if normalize_id(value) is None:
        yield ErrorDetail(
            "MALFORMED_ID", f"{field.label}: id value of incorrect type: {value}", where
        )
    elif not any(exists(target, value) for target in field.reference_to):
        yield ErrorDetail(
            "INVALID_CROSS_REFERENCE_KEY", f"{field.label}: invalid cross reference id", where
        )
