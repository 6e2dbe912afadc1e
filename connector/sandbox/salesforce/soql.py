"""SOQL against the org's records: names resolved against the schema (Salesforce's errors for
unknown objects, fields and mistyped filters), then filter, sort, page and project into the
REST API's record shape.

Comparison follows SOQL, not SQL: text compares case-insensitively, `!=` and NOT IN match
null, `<`/`>` never match null, and a date literal such as LAST_N_DAYS:7 is a range.

A filter on one of the object's own text or Id fields by `=` or `IN (...)` (alone or ANDed
with others) first asks the org's index which records can match, as a real org's indexed
fields do; the whole filter then still decides, so the index changes speed, never answers.
So does a "changed since" filter — a date-time field of the object or of a parent `>=` or
`>` a moment, alone or ORed with others of its kind (an incremental read's probe: a real
org answers it from its SystemModstamp index, not by reading every record).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cmp_to_key, lru_cache
from typing import Any, Protocol

from connector.sandbox.salesforce.errors import SalesforceError
from connector.sandbox.salesforce.ids import normalize_id
from connector.sandbox.salesforce.schema import (
    ID_TYPES,
    NUMBER_TYPES,
    STRING_TYPES,
    FieldSchema,
    ObjectSchema,
    find_object,
)
from connector.sandbox.salesforce.soql_syntax import (
    AllOf,
    AnyOf,
    Comparison,
    Condition,
    FieldPath,
    Like,
    Literal,
    Membership,
    Not,
    RelativeDate,
    parse_select,
    syntax_error,
)
from connector.sandbox.salesforce.values import to_python

MAX_OFFSET = 2000
_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_CUSTOM_HINT = (
    "If you are attempting to use a custom {kind}, be sure to append the '{suffix}' after the "
    "custom {kind} name. Please reference your WSDL or the describe call for the appropriate "
    "names."
)


class RecordSource(Protocol):
    def table(self, sobject: str) -> Mapping[str, Mapping[str, Any]]:
        """Records of `sobject` by Id."""
        ...

    def deleted(self, sobject: str) -> Mapping[str, Mapping[str, Any]]:
        """Deleted records of `sobject` by Id (queryAll's extra rows)."""
        ...


@dataclass(frozen=True)
class Column:
    """A field of the queried object, or of a parent: the reference fields followed, then
    the field itself (`Owner.Email` on Account is (OwnerId, User.Email))."""

    path: tuple[FieldSchema, ...]

    @property
    def field(self) -> FieldSchema:
        return self.path[-1]

    def stored(self, record: Mapping[str, Any], source: RecordSource) -> Any:
        current: Mapping[str, Any] | None = record
        for reference in self.path[:-1]:
            parent_id = current[reference.name] if current else None
            current = source.table(reference.reference_to[0]).get(parent_id or "")
        return current[self.field.name] if current else None

    def key(self, record: Mapping[str, Any], source: RecordSource) -> Any:
        return _key(self.field, to_python(self.field, self.stored(record, source)))


@dataclass(frozen=True)
class _Row:
    record: Mapping[str, Any]
    source: RecordSource
    today: date

    def key(self, column: Column) -> Any:
        return column.key(self.record, self.source)


Predicate = Callable[[_Row], bool]
# (object, field, values) → Ids of the records whose field may equal one of the values,
# in creation order (a superset: the filter still checks each)
IdLookup = Callable[[str, str, Collection[Any]], list[str]]
# (object, the parts of a "changed since" filter) → likewise
SinceLookup = Callable[[str, tuple["Since", ...]], list[str]]


@dataclass(frozen=True)
class Lookup:
    """A part of the filter an index can answer: the object's own `field` is one of `keys`."""

    field: str
    keys: frozenset[Any]


@dataclass(frozen=True)
class Since:
    """A part of the filter a date-time index can narrow: `field` at or after `moment`, of
    the object itself or, through its `reference` field, of the `parent` object."""

    field: str
    moment: datetime
    reference: str | None = None
    parent: str | None = None


@dataclass(frozen=True)
class Query:
    sobject: ObjectSchema
    columns: tuple[Column, ...]
    where: Predicate | None
    order_by: tuple[tuple[Column, bool, bool], ...]  # column, descending, nulls first
    limit: int | None
    offset: int
    lookup: Lookup | None = None
    since: tuple[Since, ...] = ()  # ORed: a record matching none cannot match the filter

    def execute(
        self,
        source: RecordSource,
        *,
        today: date,
        api_version: str,
        include_deleted: bool = False,
        ids_where: IdLookup | None = None,
        ids_since: SinceLookup | None = None,
    ) -> list[dict[str, Any]]:
        """Matching records in REST shape: `attributes`, the selected fields, and each
        parent as a nested record (or null); deleted ones too for queryAll."""
        records = self.select(
            source,
            today=today,
            include_deleted=include_deleted,
            ids_where=ids_where,
            ids_since=ids_since,
        )
        return [self.project(record, source, api_version) for record in records]

    def select(
        self,
        source: RecordSource,
        *,
        today: date,
        include_deleted: bool = False,
        ids_where: IdLookup | None = None,
        ids_since: SinceLookup | None = None,
    ) -> list[Mapping[str, Any]]:
        """The matching records, ordered, offset and limited, as stored: `project` turns
        each into its REST shape (the org does it a page at a time). `ids_where` and
        `ids_since`: the org's index, for a filter it can narrow (`lookup`, `since`)."""
        where = self.where
        table = source.table(self.sobject.name)
        if ids_where is not None and self.lookup is not None:
            found = ids_where(self.sobject.name, self.lookup.field, self.lookup.keys)
            candidates = [table[record_id] for record_id in found]
        elif ids_since is not None and self.since:
            found = ids_since(self.sobject.name, self.since)
            candidates = [table[record_id] for record_id in found]
        else:
            candidates = list(table.values())
        if include_deleted:
            candidates += source.deleted(self.sobject.name).values()
        records = [
            record for record in candidates if where is None or where(_Row(record, source, today))
        ]
        if len(self.order_by) == 1:
            records = self._sorted_by_one(records, source)
        elif self.order_by:
            keyed = [([c.key(r, source) for c, _, _ in self.order_by], r) for r in records]
            keyed.sort(key=cmp_to_key(self._compare))
            records = [record for _, record in keyed]
        end = None if self.limit is None else self.offset + self.limit
        return records[self.offset : end]

    def _sorted_by_one(
        self, records: list[Mapping[str, Any]], source: RecordSource
    ) -> list[Mapping[str, Any]]:
        """`_compare`'s order for one sort column, by key rather than by comparison (the
        usual `ORDER BY Id` of 500,000 records): stable, nulls kept together in their place."""
        column, descending, nulls_first = self.order_by[0]
        keyed = [(column.key(record, source), record) for record in records]
        present = [pair for pair in keyed if pair[0] is not None]
        present.sort(key=lambda pair: pair[0], reverse=descending)
        nulls = [record for key, record in keyed if key is None]
        ordered = [record for _, record in present]
        return nulls + ordered if nulls_first else ordered + nulls

    def _compare(self, a: tuple[list[Any], object], b: tuple[list[Any], object]) -> int:
        """SOQL's ORDER BY on (sort keys, record) pairs: nulls first ascending and last
        descending, unless NULLS FIRST/LAST says otherwise."""
        for (_, descending, nulls_first), x, y in zip(self.order_by, a[0], b[0], strict=True):
            if x == y:
                continue
            if x is None or y is None:
                return (-1 if x is None else 1) * (1 if nulls_first else -1)
            return (-1 if x < y else 1) * (-1 if descending else 1)
        return 0

    def project(
        self, record: Mapping[str, Any], source: RecordSource, api_version: str
    ) -> dict[str, Any]:
        """One selected record in REST shape, its parents read from `source`."""
        projected = {"attributes": attributes(self.sobject.name, record["Id"], api_version)}
        for column in self.columns:
            target: dict[str, Any] = projected
            current: Mapping[str, Any] = record
            for reference in column.path[:-1]:
                relationship = reference.relationship_name or reference.name
                parent_type = reference.reference_to[0]
                parent = source.table(parent_type).get(current[reference.name] or "")
                if parent is None:
                    target.setdefault(relationship, None)
                    break
                nested = {"attributes": attributes(parent_type, parent["Id"], api_version)}
                target, current = target.setdefault(relationship, nested), parent
            else:
                target[column.field.name] = current[column.field.name]
        return projected


def attributes(sobject: str, record_id: str, api_version: str) -> dict[str, str]:
    """The `attributes` object the REST API puts on every record."""
    return {"type": sobject, "url": f"/services/data/v{api_version}/sobjects/{sobject}/{record_id}"}


def parse_query(text: str, schema: Mapping[str, ObjectSchema]) -> Query:
    """Parse and resolve `text`; SalesforceError with Salesforce's errorCode when it is not a
    query this org can run."""
    select = parse_select(text)
    obj = find_object(schema, select.sobject)
    if obj is None:
        message = f"sObject type '{select.sobject}' is not supported. " + _CUSTOM_HINT.format(
            kind="object", suffix="__c"
        )
        raise syntax_error(text, "INVALID_TYPE", message, *select.sobject_at)
    if select.offset > MAX_OFFSET:
        raise SalesforceError(
            "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
        )
    resolver = _Resolver(text, obj, schema)
    return Query(
        sobject=obj,
        columns=tuple(resolver.column(path) for path in select.fields),
        where=resolver.condition(select.where) if select.where else None,
        order_by=tuple(
            (resolver.column(item.field), item.descending, item.nulls_first)
            for item in select.order_by
        ),
        limit=select.limit,
        offset=select.offset,
        lookup=resolver.lookup(select.where) if select.where else None,
        since=resolver.since(select.where) if select.where else (),
    )


class _Resolver:
    """Turns names into schema fields and literals into comparable values."""

    def __init__(self, text: str, obj: ObjectSchema, schema: Mapping[str, ObjectSchema]) -> None:
        self._text = text
        self._obj = obj
        self._schema = schema

    def column(self, path: FieldPath) -> Column:
        obj, followed = self._obj, []
        for name in path.names[:-1]:
            reference = obj.relationship(name)
            target = find_object(self._schema, reference.reference_to[0]) if reference else None
            if reference is None or target is None:
                message = f"Didn't understand relationship '{name}' in field path. "
                raise self._error(
                    path,
                    "INVALID_FIELD",
                    message + _CUSTOM_HINT.format(kind="relationship", suffix="__r"),
                )
            followed.append(reference)
            obj = target
        field = obj.field(path.names[-1])
        if field is None:
            message = f"No such column '{path.names[-1]}' on entity '{obj.name}'. "
            raise self._error(
                path, "INVALID_FIELD", message + _CUSTOM_HINT.format(kind="field", suffix="__c")
            )
        return Column((*followed, field))

    def condition(self, condition: Condition) -> Predicate:
        if isinstance(condition, AllOf | AnyOf):
            parts = [self.condition(c) for c in condition.conditions]
            combine = all if isinstance(condition, AllOf) else any
            return lambda row: combine(part(row) for part in parts)
        if isinstance(condition, Not):
            inner = self.condition(condition.condition)
            return lambda row: not inner(row)
        column = self.column(condition.field)
        if isinstance(condition, Like):
            if column.field.type not in STRING_TYPES:
                raise self._error(
                    condition.field,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid operator on {_type_name(column.field)} field: LIKE",
                )
            pattern = condition.pattern
            return lambda row: _matches_like(pattern, column.stored(row.record, row.source))
        if isinstance(condition, Membership):
            keys = frozenset(
                self._operand(column, v, condition.field, ranges=False) for v in condition.values
            )
            negated = condition.negated
            return lambda row: (row.key(column) in keys) != negated
        return self._comparison(column, condition)

    def lookup(self, condition: Condition) -> Lookup | None:
        """The part of a (resolved, valid) filter an index can narrow: `Field = value` or
        `Field IN (...)` on a text or Id field of the object itself, alone or in an AND."""
        if isinstance(condition, AllOf):
            return next(filter(None, map(self.lookup, condition.conditions)), None)
        if isinstance(condition, Membership) and not condition.negated:
            values: tuple[Literal, ...] = condition.values
        elif isinstance(condition, Comparison) and condition.operator == "=":
            values = (condition.value,)
        else:
            return None
        column = self.column(condition.field)
        if len(column.path) > 1 or column.field.type not in STRING_TYPES | ID_TYPES:
            return None
        keys = (self._operand(column, v, condition.field, ranges=False) for v in values)
        return Lookup(column.field.name, frozenset(keys))

    def since(self, condition: Condition) -> tuple[Since, ...]:
        """The part of a (resolved, valid) filter a date-time index can narrow: a date-time
        field of the object or of a parent `>=` or `>` a moment, alone, ORed only with others
        of its kind, or in an AND; none (empty) otherwise."""
        if isinstance(condition, AllOf):
            return next(filter(None, map(self.since, condition.conditions)), ())
        if isinstance(condition, AnyOf):
            parts = [self.since(c) for c in condition.conditions]
            return tuple(p for part in parts for p in part) if all(parts) else ()
        if not isinstance(condition, Comparison) or condition.operator not in (">=", ">"):
            return ()
        column = self.column(condition.field)
        if column.field.type != "datetime" or len(column.path) > 2:
            return ()
        moment = self._operand(column, condition.value, condition.field, ranges=True)
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            return ()
        if len(column.path) == 1:
            return (Since(column.field.name, moment),)
        reference = column.path[0]
        return (Since(column.field.name, moment, reference.name, reference.reference_to[0]),)

    def _comparison(self, column: Column, condition: Comparison) -> Predicate:
        op = condition.operator
        operand = self._operand(column, condition.value, condition.field, ranges=True)
        if isinstance(operand, RelativeDate):
            bounds = lru_cache(maxsize=4)(operand.bounds)  # per day, not per record
            return lambda row: _compare_days(op, row.key(column), *bounds(row.today))
        return lambda row: _compare(op, row.key(column), operand)

    def _operand(self, column: Column, value: Literal, path: FieldPath, *, ranges: bool) -> Any:
        """`value` in the same comparable form as the column's keys (a date literal such as
        TODAY stays a range where `ranges` allows it), or a query error."""
        field = column.field
        if value is None:
            return None
        if field.type in ID_TYPES and isinstance(value, str):
            normalized = normalize_id(value)
            if normalized is None:
                raise self._error(
                    path, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}"
                )
            return normalized
        if _literal_fits(field, value) and (ranges or not isinstance(value, RelativeDate)):
            return value if isinstance(value, RelativeDate) else _key(field, value)
        quoted = " and should not be enclosed in quotes" if isinstance(value, str) else ""
        raise self._error(
            path,
            "INVALID_FIELD",
            f"value of filter criterion for field '{field.name}' must be of type "
            f"{_type_name(field)}{quoted}",
        )

    def _error(self, path: FieldPath, code: str, message: str) -> SalesforceError:
        return syntax_error(self._text, code, message, path.line, path.column)


def _literal_fits(field: FieldSchema, value: Literal) -> bool:
    kind = field.type
    if kind in STRING_TYPES:
        return isinstance(value, str)
    if kind in NUMBER_TYPES:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "date":
        return isinstance(value, RelativeDate) or (
            isinstance(value, date) and not isinstance(value, datetime)
        )
    if kind == "datetime":
        return isinstance(value, RelativeDate | datetime)
    return False


def _key(field: FieldSchema, value: Any) -> Any:
    """Text compares case-insensitively; everything else as its Python value."""
    return value.casefold() if isinstance(value, str) and field.type in STRING_TYPES else value


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "=":
        return bool(value == operand)
    if op == "!=":
        return bool(value != operand)
    return value is not None and operand is not None and bool(_ORDERING[op](value, operand))


def _compare_days(op: str, value: date | datetime | None, first: date, last: date) -> bool:
    if value is None:
        return op == "!="
    day = value.date() if isinstance(value, datetime) else value
    return _DAY_TESTS[op](day, first, last)


_DAY_TESTS: dict[str, Callable[[date, date, date], bool]] = {
    "=": lambda day, first, last: first <= day <= last,
    "!=": lambda day, first, last: not first <= day <= last,
    "<": lambda day, first, last: day < first,
    "<=": lambda day, first, last: day <= last,
    ">": lambda day, first, last: day > last,
    ">=": lambda day, first, last: day >= first,
}


def _matches_like(pattern: re.Pattern[str], value: str | None) -> bool:
    return value is not None and pattern.fullmatch(value) is not None


def _type_name(field: FieldSchema) -> str:
    return {"datetime": "dateTime"}.get(field.type, field.type)
