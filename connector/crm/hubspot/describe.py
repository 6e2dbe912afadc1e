"""HubSpot property metadata, and converting between HubSpot's string values and typed columns.

HubSpot sends every property value as a string ("42.5", "true", "2026-11-23",
"2026-11-23T10:00:00Z") and takes dates as midnight UTC and datetimes as epoch
milliseconds, so both directions go through the property's declared type.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

import polars as pl

OWNER = "OWNER"
TEXT_TYPES = {"string", "enumeration"}


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    type: str  # string, number, date, datetime, enumeration, bool
    read_only: bool = False
    references: str | None = None  # "OWNER" for owner properties
    options: tuple[str, ...] = ()  # an enumeration's values


@dataclass(frozen=True)
class ObjectProperties:
    object_type: str
    properties: Mapping[str, PropertyInfo]

    @classmethod
    def from_api(cls, object_type: str, results: list[Any]) -> ObjectProperties:
        """From the properties API's `Property` models."""
        found = {}
        for prop in results:
            metadata = prop.modification_metadata
            read_only = bool(prop.calculated) or bool(metadata and metadata.read_only_value)
            options = tuple(o.value for o in prop.options or () if not o.hidden)
            found[prop.name] = PropertyInfo(
                prop.name, prop.type, read_only, prop.referenced_object_type, options
            )
        return cls(object_type, found)

    def get(self, name: str) -> PropertyInfo | None:
        return self.properties.get(name)

    def missing(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.properties), n=1)
        hint = (
            f" Did you mean '{close[0]}'?"
            if close
            else " Use the property's internal name (Settings → Properties)."
        )
        return f"HubSpot {self.object_type} have no property '{name}'.{hint}"


def column(name: str, values: list[str | None], info: PropertyInfo) -> pl.Series:
    """HubSpot's string values as a typed column ('' and null are both null)."""
    cleaned = [None if value in (None, "") else value for value in values]
    text = pl.Series(name, cleaned, pl.String)
    if info.type == "number":
        return text.cast(pl.Float64, strict=False)
    if info.type == "bool":
        return text.str.to_lowercase() == "true"
    if info.type == "date":
        return pl.Series(name, [_date(v) for v in cleaned], pl.Date)
    if info.type == "datetime":
        times = [None if v is None else parse_datetime(v) for v in cleaned]
        return pl.Series(name, times, pl.Datetime("ms", "UTC"))
    return text


def write_value(value: Any) -> str:
    """A typed value as HubSpot takes it: dates as midnight UTC and datetimes as UTC ms."""
    if value is None:
        return ""  # clears the property
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str(_epoch_ms(value if value.tzinfo else value.replace(tzinfo=UTC)))
    if isinstance(value, date):
        return str(epoch_ms(value))
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def epoch_ms(day: date, zone: tzinfo = UTC) -> int:
    """Midnight of `day` in `zone`; UTC is what HubSpot's date properties and `hs_timestamp`
    take."""
    return _epoch_ms(datetime.combine(day, time.min, zone))


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).date()
    return date.fromisoformat(value[:10])


def parse_datetime(value: str) -> datetime:
    """HubSpot datetimes arrive as ISO 8601 (v3 objects) or epoch milliseconds (filters)."""
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
