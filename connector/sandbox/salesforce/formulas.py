"""Values Salesforce computes rather than stores from a request: formula and system fields.

They are recomputed on every write, so a query or a validation rule sees them as a real
org would (a Task's IsClosed follows its Status, a Contact's Name its first and last name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connector.sandbox.salesforce.schema import ObjectSchema

Record = Mapping[str, Any]
# (the record after the write, the record before it or None on create, now) → value
Formula = Callable[[Record, Record | None, str], Any]

_CLOSED_STAGES = ("Closed Won", "Closed Lost")


def _full_name(after: Record, _before: Record | None, _now: str) -> str:
    return " ".join(part for part in (after["FirstName"], after["LastName"]) if part)


def _completed_at(after: Record, before: Record | None, now: str) -> str | None:
    """Stamped when the task becomes Completed, cleared when it is reopened."""
    if after["Status"] != "Completed":
        return None
    if before is not None and before["Status"] == "Completed":
        return str(before["CompletedDateTime"])
    return now


FORMULAS: Mapping[tuple[str, str], Formula] = {
    ("User", "Name"): _full_name,
    ("Contact", "Name"): _full_name,
    ("Opportunity", "IsClosed"): lambda after, _b, _n: after["StageName"] in _CLOSED_STAGES,
    ("Opportunity", "IsWon"): lambda after, _b, _n: after["StageName"] == "Closed Won",
    ("Task", "IsClosed"): lambda after, _b, _n: after["Status"] == "Completed",
    ("Task", "CompletedDateTime"): _completed_at,
}


def derive(obj: ObjectSchema, after: dict[str, Any], before: Record | None, now: str) -> None:
    """Fill `after`'s calculated fields and audit timestamps for a write at `now`."""
    for field in obj.fields:
        formula = FORMULAS.get((obj.name, field.name)) if field.calculated else None
        if formula is not None:
            after[field.name] = formula(after, before, now)
    audit = {"CreatedDate": before["CreatedDate"] if before else now}
    audit["LastModifiedDate"] = audit["SystemModstamp"] = now
    for name, value in audit.items():
        if obj.field(name) is not None:
            after[name] = value
