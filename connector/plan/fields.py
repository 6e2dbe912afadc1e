"""Field diffs: which accounts' CRM fields differ from what the evaluation computed.

Vectorised over the whole table, so an unchanged book costs one pass and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from connector.crm.protocol import FieldChange, FieldUpdate
from connector.frame import CURRENT_PREFIX
from connector.plan.model import FieldTarget, FrameRows


def plan_field_updates(table: pl.DataFrame, targets: Sequence[FieldTarget]) -> FieldUpdates:
    """One update per account whose wanted values differ from the CRM's current values.

    New values are cast to the CRM field's type before comparing (and that cast value is what
    gets written), so 72.0 vs 72 or a date vs its ISO text is never a change; empty text is
    compared (and written) as the CRM keeps it, as no value (see `as_stored`). A target that
    does not `clear` (a rule's field) is written only where the rule gave it a value.
    """
    table = table.select(_diffed_columns(targets))
    new_values = [
        as_stored(pl.col(t.column), table.schema[CURRENT_PREFIX + t.crm_field]).alias(
            f"_new_{t.crm_field}"
        )
        for t in targets
    ]
    given = [pl.col(t.column).is_not_null().alias(f"_given_{t.crm_field}") for t in targets]
    changed_flags = []
    for t in targets:
        new, current = pl.col(f"_new_{t.crm_field}"), pl.col(CURRENT_PREFIX + t.crm_field)
        changed = new.ne_missing(current)
        if not t.clear:
            changed = changed & pl.col(f"_given_{t.crm_field}")
        changed_flags.append(changed.alias(f"_changed_{t.crm_field}"))
    read = dict.fromkeys(
        ["id", "name"]
        + [f"{prefix}{t.crm_field}" for t in targets for prefix in (CURRENT_PREFIX, "_new_")]
        + [f"_changed_{t.crm_field}" for t in targets]
    )
    flagged = (
        table.with_columns([*new_values, *given])
        .with_columns(changed_flags)
        .select(list(read))  # before the filter: only these are gathered
        .filter(pl.any_horizontal(r"^_changed_.*$"))
    )
    columns = flagged.columns
    at = tuple(  # each target's field, and where its current, new and changed values are
        (
            t.crm_field,
            columns.index(CURRENT_PREFIX + t.crm_field),
            columns.index(f"_new_{t.crm_field}"),
            columns.index(f"_changed_{t.crm_field}"),
        )
        for t in targets
    )
    return FieldUpdates(flagged, at)


def _diffed_columns(targets: Sequence[FieldTarget]) -> list[str]:
    """The columns `plan_field_updates` reads of its table: each record's id and name, and
    for each target its wanted value and the CRM's current one. The evaluated table has a
    hundred columns (~140 MB at 100,000 accounts): a diff that joined or filtered it whole
    copied them all."""
    wanted = [t.column for t in targets]
    current = [CURRENT_PREFIX + t.crm_field for t in targets]
    return list(dict.fromkeys(["id", "name", *wanted, *current]))


class FieldUpdates(FrameRows[FieldUpdate]):
    """A plan's field updates held as the columns they were found in: a first run of
    100,000 accounts changes 1.1 million fields, and as objects they held 150 MB from
    planning to the end of the writes. The writers read them a batch at a time."""

    __slots__ = ("_at",)

    def __init__(self, rows: pl.DataFrame, at: tuple[tuple[str, int, int, int], ...]) -> None:
        """`rows`: the record's id and label, then the columns `at` points to: each
        field's name, and the places of its current value, new value and changed flag."""
        super().__init__(rows)
        self._at = at

    def _of(self, rows: pl.DataFrame) -> FieldUpdates:
        return FieldUpdates(rows, self._at)

    def _made(self, row: tuple[Any, ...]) -> FieldUpdate:
        changes = tuple(
            FieldChange(field, row[old], row[new])
            for field, old, new, changed in self._at
            if row[changed]
        )
        return FieldUpdate(row[0], row[1], changes)


def as_stored(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A value as the CRM will hold it, and as its adapter reads it back. Neither CRM keeps
    empty text: Salesforce stores '' as null, and HubSpot clears a property written '' (it
    then returns "", which the HubSpot reader reads as no value). Comparing '' with the null
    read back would rewrite the record on every run; so empty text is null here, and the
    write sends each CRM its own form of "no value" (null on Salesforce, "" on HubSpot)."""
    typed = value.cast(dtype)
    if dtype != pl.String:
        return typed
    return pl.when(typed == "").then(None).otherwise(typed)
