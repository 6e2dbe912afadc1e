"""Salesforce describe metadata, and turning query records into a typed frame with it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import polars as pl

PAGE_ROWS = 2000  # a query page: what Salesforce sends at once
_NUMERIC = {"double": pl.Float64, "currency": pl.Float64, "percent": pl.Float64, "int": pl.Int64}


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str
    updateable: bool
    external_id: bool
    reference_to: tuple[str, ...]
    relationship_name: str | None
    picklist: tuple[str, ...] = ()
    unique: bool = False
    createable: bool = False

    @property
    def dtype(self) -> pl.DataType:
        if self.type in _NUMERIC:
            return _NUMERIC[self.type]()
        if self.type == "boolean":
            return pl.Boolean()
        if self.type == "date":
            return pl.Date()
        if self.type == "datetime":
            return pl.Datetime("ms", "UTC")
        return pl.String()


@dataclass(frozen=True)
class ObjectDescription:
    name: str
    fields: Mapping[str, FieldInfo]  # by lower-cased API name: SOQL names are case-insensitive

    @classmethod
    def from_describe(cls, raw: Any) -> ObjectDescription:
        fields = {
            f["name"].lower(): FieldInfo(
                name=f["name"],
                type=f["type"],
                updateable=bool(f.get("updateable")),
                external_id=bool(f.get("externalId")),
                reference_to=tuple(f.get("referenceTo") or ()),
                relationship_name=f.get("relationshipName"),
                picklist=tuple(
                    v["value"] for v in f.get("picklistValues") or () if v.get("active", True)
                ),
                unique=bool(f.get("unique")),
                createable=bool(f.get("createable")),
            )
            for f in raw["fields"]
        }
        return cls(raw["name"], fields)

    def field(self, name: str) -> FieldInfo | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldInfo | None:
        lowered = name.lower()
        return next(
            (
                f
                for f in self.fields.values()
                if f.relationship_name and f.relationship_name.lower() == lowered
            ),
            None,
        )

    def missing(self, name: str) -> str:
        names = [f.name for f in self.fields.values()]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else " Check the API name in Object Manager."
        return f"{self.name} has no field '{name}'.{hint}"


def frame_from_records(
    records: Iterable[Mapping[str, Any]],
    resolved: Mapping[str, tuple[str, FieldInfo]],
    *,
    page_rows: int = PAGE_ROWS,
) -> pl.DataFrame:
    """Canonical columns typed from describe; relationship paths read from nested objects.

    A page of `page_rows` records at a time becomes typed columns, so only one page of
    records is ever held as Python values: 500,000 contacts as Python strings are hundreds
    of megabytes, as Arrow columns a fraction of that."""
    pages = iter(records)
    frames = [
        _page_frame(page, resolved) for page in iter(lambda: list(islice(pages, page_rows)), [])
    ]
    if not frames:
        return _page_frame([], resolved)
    return pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]


def _page_frame(
    records: list[Mapping[str, Any]], resolved: Mapping[str, tuple[str, FieldInfo]]
) -> pl.DataFrame:
    return pl.DataFrame(
        [
            _series(canonical, [_pluck(record, path) for record in records], info)
            for canonical, (path, info) in resolved.items()
        ]
    )


def _pluck(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if value is None:
            return None
        value = value.get(part)
    return value


def _series(name: str, values: list[Any], info: FieldInfo) -> pl.Series:
    dtype = info.dtype
    if dtype == pl.Date:
        return pl.Series(name, values, pl.String).str.to_date("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return pl.Series(name, values, pl.String).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%z", time_unit="ms", time_zone="UTC"
        )
    return pl.Series(name, values, dtype, strict=False)
