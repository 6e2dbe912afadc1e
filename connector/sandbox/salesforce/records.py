"""The org's records, by object and Id, and the DML that changes them: create, update and
upsert by an External ID, each validated and derived the way Salesforce saves a record.

Writes replace a record's dict rather than mutate it, so a savepoint is a shallow copy of
the tables and rolling back an all-or-none call is restoring that copy. Not thread-safe on
its own: `SandboxOrg` serialises access.

Lookups by a field's value (an upsert's External ID, a unique field, a query's `IN (...)`)
go through an index built on first use and kept up to date by every write, so a book of
100,000 accounts and 200,000 tasks is not scanned once per record written. The same index
answers "changed since" (`SystemModstamp >= ...`, an incremental read's probe) by comparing
its distinct values, as a real org's SystemModstamp index does: not every record's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from connector.sandbox.salesforce.errors import ErrorDetail, RecordRejected, SalesforceError
from connector.sandbox.salesforce.formulas import derive
from connector.sandbox.salesforce.ids import make_id, normalize_id
from connector.sandbox.salesforce.schema import FieldSchema, ObjectSchema, require_object
from connector.sandbox.salesforce.soql import Since
from connector.sandbox.salesforce.validation import ValidationRule, check_record
from connector.sandbox.salesforce.values import format_datetime

Record = dict[str, Any]
Tables = dict[str, dict[str, Record]]
# folded value → Ids: a set, so a write moves an Id in constant time even where 100,000
# records share a value (a seeded SystemModstamp)
Index = dict[Any, set[str]]


class RecordStore:
    def __init__(self, schema: Mapping[str, ObjectSchema], now: Callable[[], datetime]) -> None:
        self.schema = schema
        self._now = now
        self._tables: Tables = {name: {} for name in schema}
        self._recycle_bin: Tables = {name: {} for name in schema}
        self._counters = dict.fromkeys(schema, 0)
        self._rules: dict[str, list[ValidationRule]] = {name: [] for name in schema}
        self._indexes: dict[str, dict[str, Index]] = {name: {} for name in schema}

    def object(self, name: str) -> ObjectSchema:
        return require_object(self.schema, name)

    def table(self, sobject: str) -> Mapping[str, Record]:
        """Records of `sobject` (canonical name) by Id, in creation order. Do not mutate."""
        return self._tables[sobject]

    def deleted(self, sobject: str) -> Mapping[str, Record]:
        """Deleted records of `sobject` (IsDeleted true), which only queryAll returns."""
        return self._recycle_bin[sobject]

    def add_field(self, sobject: str, field: str) -> None:
        """A field the schema just gained: null on every record that exists."""
        for record in self._tables[sobject].values():
            record.setdefault(field, None)
        self._indexes[sobject].clear()

    def add_rule(self, sobject: str, rule: ValidationRule) -> None:
        self._rules[self.object(sobject).name].append(rule)

    # -- DML -----------------------------------------------------------------------------

    def create(self, sobject: str, values: Mapping[str, Any]) -> str:
        obj = self.object(sobject)
        if "Id" in values:
            raise RecordRejected(
                ErrorDetail(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "cannot specify Id in an insert call",
                    ("Id",),
                )
            )
        record: Record = {f.name: f.default for f in obj.fields}
        record.update(values)
        self._save(obj, record, None, values)
        self._counters[obj.name] += 1
        record["Id"] = make_id(obj.key_prefix, self._counters[obj.name])
        self._tables[obj.name][record["Id"]] = record
        self._reindex(obj.name, None, record)
        return str(record["Id"])

    def update(self, sobject: str, record_id: Any, values: Mapping[str, Any]) -> str:
        """Returns the record's 18-character Id."""
        obj = self.object(sobject)
        before = self._tables[obj.name].get(self._existing_id(obj, record_id))
        if before is None:
            raise RecordRejected(ErrorDetail("ENTITY_IS_DELETED", "entity is deleted"))
        after = {**before, **values}
        self._save(obj, after, before, values)
        self._tables[obj.name][before["Id"]] = after
        self._reindex(obj.name, before, after)
        return str(before["Id"])

    def delete(self, sobject: str, record_id: str) -> bool:
        """Move the record to the recycle bin, stamped as Salesforce stamps a delete."""
        normalized = normalize_id(record_id)
        record = self._tables[sobject].pop(normalized or record_id, None)
        if record is None:
            return False
        self._reindex(sobject, record, None)
        stamp = format_datetime(self._now())
        deleted = {**record, "IsDeleted": True, "SystemModstamp": stamp}
        self._recycle_bin[sobject][record["Id"]] = deleted
        return True

    def upsert(self, sobject: str, key_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        """Update the record whose `key_field` equals the record's value, else create one;
        returns (Id, created)."""
        obj = self.object(sobject)
        key = external_id_field(obj, key_field)
        value = values.get(key.name)
        if value is None:
            raise RecordRejected(
                ErrorDetail("MISSING_ARGUMENT", f"{key.name} not specified", (key.name,))
            )
        matches = self._matching(obj, key, value)
        if len(matches) > 1:
            raise RecordRejected(
                ErrorDetail(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{key.label}: more than one record found for external id field: "
                    f"[{', '.join(matches)}]",
                    (key.name,),
                )
            )
        if matches:
            self.update(obj.name, matches[0], values)
            return matches[0], False
        return self.create(obj.name, values), True

    def savepoint(self) -> Tables:
        return {name: dict(table) for name, table in self._tables.items()}

    def restore(self, savepoint: Tables) -> None:
        self._tables = savepoint
        for indexes in self._indexes.values():
            indexes.clear()

    def ids_where(self, sobject: str, field: str, values: Collection[Any]) -> list[str]:
        """Ids of `sobject`'s records (canonical name) whose `field` may equal one of
        `values`, in creation order: text folded as `_fold` does, so the caller still checks
        each record (a superset, never a miss)."""
        table = self._tables[sobject]
        if field == "Id":
            found = {value for value in values if value in table}
        else:
            index = self._index(sobject, field)
            found = {i for value in values for i in index.get(_fold(value), ())}
        return sorted(found)  # Ids sort in creation order (see ids.make_id)

    def ids_since(self, sobject: str, parts: Iterable[Since]) -> list[str]:
        """Ids of `sobject`'s records whose date-time field, or a parent's, may be at or after
        a part's moment, in creation order (a superset: the caller still checks each)."""
        found: set[str] = set()
        for part in parts:
            if part.reference is None:
                found |= self._not_before(sobject, part.field, part.moment)
            else:
                parents = self._not_before(part.parent or "", part.field, part.moment)
                found.update(self.ids_where(sobject, part.reference, parents))
        return sorted(found)

    # -- persistence ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "records": {name: list(table.values()) for name, table in self._tables.items()},
            "deleted": {name: list(bin_.values()) for name, bin_ in self._recycle_bin.items()},
            "counters": self._counters,
        }

    def load_json(self, saved: Mapping[str, Any]) -> None:
        """Records saved by `to_json`; fields the schema gained since start out null."""
        for name, records in saved["records"].items():
            obj = self.object(name)
            self._tables[obj.name] = {r["Id"]: _loaded(obj, r, deleted=False) for r in records}
        for name, records in saved.get("deleted", {}).items():
            obj = self.object(name)
            self._recycle_bin[obj.name] = {r["Id"]: _loaded(obj, r, deleted=True) for r in records}
        self._counters.update(saved["counters"])
        for indexes in self._indexes.values():
            indexes.clear()

    # -- internals -----------------------------------------------------------------------

    def _save(
        self, obj: ObjectSchema, after: Record, before: Record | None, values: Mapping[str, Any]
    ) -> None:
        derive(obj, after, before, format_datetime(self._now()))
        errors = check_record(
            obj,
            after,
            values.keys(),
            creating=before is None,
            exists=self._exists,
            rules=self._rules[obj.name],
        )
        if errors:
            raise RecordRejected(*errors)
        for field in obj.fields:
            if field.unique and after[field.name] is not None:
                self._check_unique(obj, field, after[field.name], before)

    def _check_unique(
        self, obj: ObjectSchema, field: FieldSchema, value: Any, before: Record | None
    ) -> None:
        others = [i for i in self._matching(obj, field, value) if not before or i != before["Id"]]
        if others:
            raise RecordRejected(
                ErrorDetail(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {field.name} duplicates value on record with id: "
                    f"{others[0]}",
                )
            )

    def _matching(self, obj: ObjectSchema, field: FieldSchema, value: Any) -> list[str]:
        """Ids whose `field` equals `value`; text compares case-insensitively, as unique
        and External ID fields do by default."""
        return sorted(self._index(obj.name, field.name).get(_fold(value), ()))

    def _index(self, sobject: str, field: str) -> Index:
        indexes = self._indexes[sobject]
        if field not in indexes:
            index: Index = {}
            for record_id, record in self._tables[sobject].items():
                index.setdefault(_fold(record.get(field)), set()).add(record_id)
            indexes[field] = index
        return indexes[field]

    def _reindex(self, sobject: str, before: Record | None, after: Record | None) -> None:
        """Move a created, updated or deleted record in every index built on its object."""
        record_id = (after or before or {})["Id"]
        for field, index in self._indexes[sobject].items():
            old = None if before is None else _fold(before.get(field))
            new = None if after is None else _fold(after.get(field))
            if before is not None and after is not None and old == new:
                continue
            if before is not None:
                index[old].discard(record_id)
                if not index[old]:
                    del index[old]
            if after is not None:
                index.setdefault(new, set()).add(record_id)

    def _not_before(self, sobject: str, field: str, moment: datetime) -> set[str]:
        """Ids whose date-time `field` is at or after `moment`, or holds what does not read
        as a date-time: the index's distinct values compared, not its records."""
        return {
            record_id
            for value, ids in self._index(sobject, field).items()
            if value is not None and _not_earlier(value, moment)
            for record_id in ids
        }

    def _existing_id(self, obj: ObjectSchema, record_id: Any) -> str:
        if record_id is None:
            raise RecordRejected(
                ErrorDetail("MISSING_ARGUMENT", "Id not specified in an update call", ("Id",))
            )
        normalized = normalize_id(str(record_id))
        if normalized is None or not normalized.startswith(obj.key_prefix):
            raise RecordRejected(
                ErrorDetail(
                    "MALFORMED_ID",
                    f"{obj.label} ID: id value of incorrect type: {record_id}",
                    ("Id",),
                )
            )
        return normalized

    def _exists(self, sobject: str, record_id: str) -> bool:
        return record_id in self._tables.get(sobject, {})


def external_id_field(obj: ObjectSchema, name: str) -> FieldSchema:
    """The field an upsert matches on; Salesforce refuses the call unless it is an External ID."""
    field = obj.field(name)
    if field is None or not field.external_id:
        raise SalesforceError(
            "INVALID_FIELD",
            f"Field name provided, {name} is not an External ID or indexed field for {obj.name}",
        )
    return field


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _not_earlier(value: Any, moment: datetime) -> bool:
    """A stored date-time (text in the wire form, folded) at or after `moment`; a value that
    is not one may match, and the query's own filter decides."""
    stamp = _parsed(value) if isinstance(value, str) else value
    return not isinstance(stamp, datetime) or stamp.tzinfo is None or stamp >= moment


@lru_cache(maxsize=1 << 16)
def _parsed(text: str) -> datetime | None:
    """A stamp's text as a date-time, once per distinct text (a probe compares them all)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _loaded(obj: ObjectSchema, saved: Mapping[str, Any], *, deleted: bool) -> Record:
    """A saved record with the schema's fields; fields gained since start out null."""
    record = {f.name: saved.get(f.name) for f in obj.fields}
    if obj.field("IsDeleted") is not None:
        record["IsDeleted"] = deleted
    return record
