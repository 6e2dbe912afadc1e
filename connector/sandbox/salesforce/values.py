"""Field values between the wire and the org: what a request may send for each field type,
how the org stores it (JSON-ready, as the REST API returns it) and how SOQL compares it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connector.sandbox.salesforce.errors import SalesforceError
from connector.sandbox.salesforce.ids import normalize_id
from connector.sandbox.salesforce.schema import (
    ID_TYPES,
    NUMBER_TYPES,
    FieldSchema,
    ObjectSchema,
)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class FieldTypeError(ValueError):
    """A value the field's type cannot hold; Salesforce's JSON deserializer refuses it."""

    def __init__(self, field: FieldSchema, value: Any) -> None:
        token = _json_token(value)
        super().__init__(
            f"Cannot deserialize instance of {field.type} from {token} value {value} "
            "or request may be missing a required field"
        )
        self.field = field
        self.value = value


def prepare(obj: ObjectSchema, raw: Mapping[str, Any]) -> dict[str, Any]:
    """`raw` keyed by canonical field names, each value in stored form.

    Raises SalesforceError(INVALID_FIELD) for a field the object lacks, FieldTypeError for a
    value of the wrong type.
    """
    prepared: dict[str, Any] = {}
    for name, value in raw.items():
        field = obj.field(name)
        if field is None:
            raise SalesforceError(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
            )
        prepared[field.name] = to_stored(field, value)
    return prepared


def to_stored(field: FieldSchema, value: Any) -> Any:
    """Coerce as Salesforce does: numeric strings into numbers, numbers into text, empty
    text into null, numbers rounded to the field's scale."""
    if value is None:
        return None
    if field.type == "boolean":
        return _boolean(field, value)
    if field.type in NUMBER_TYPES:
        return _number(field, value)
    if field.type == "date":
        return _date(field, value)
    if field.type == "datetime":
        return _datetime(field, value)
    if isinstance(value, dict | list):
        raise FieldTypeError(field, value)
    if field.type in ID_TYPES:
        return normalize_id(str(value)) or str(value)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text or None


def to_python(field: FieldSchema, stored: Any) -> Any:
    """A stored value as the Python value SOQL compares: dates as `date`, times as `datetime`."""
    if stored is None:
        return None
    if field.type == "date":
        return date.fromisoformat(stored)
    if field.type == "datetime":
        # the stored form is the org's own (`format_datetime`), so the ISO parser reads it
        # as `strptime` would, ~80 times faster: a filter on 500,000 events' start times
        # was most of the sandbox's first full read
        return datetime.fromisoformat(stored)
    return stored


def format_datetime(moment: datetime) -> str:
    """Salesforce's wire form: UTC with milliseconds, `2026-03-01T09:30:00.000+0000`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _boolean(field: FieldSchema, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise FieldTypeError(field, value)


def _number(field: FieldSchema, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldTypeError(field, value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise FieldTypeError(field, value) from None
    if not number.is_finite():
        raise FieldTypeError(field, value)
    if field.type == "int":
        if number != number.to_integral_value():
            raise FieldTypeError(field, value)
        return int(number)
    scale = Decimal(1).scaleb(-(field.scale or 0))
    return float(number.quantize(scale, rounding=ROUND_HALF_UP))


def _date(field: FieldSchema, value: Any) -> str:
    if isinstance(value, datetime):
        raise FieldTypeError(field, value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise FieldTypeError(field, value)


def _datetime(field: FieldSchema, value: Any) -> str:
    moment = value if isinstance(value, datetime) else None
    if isinstance(value, str) and _DATE.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None:
        raise FieldTypeError(field, value)
    return format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _json_token(value: Any) -> str:
    """The name Jackson, Salesforce's JSON parser, gives a value in its error messages."""
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"
