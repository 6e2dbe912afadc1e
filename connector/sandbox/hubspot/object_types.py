"""The CRM object types the portal knows, their aliases, and HubSpot's default association
types between them: the ids a client puts in `associationTypeId` and reads back from the
v4 labels endpoint are HubSpot's published ones, so a mapping written against the sandbox
works against a real portal."""

from __future__ import annotations

from dataclasses import dataclass

from connector.sandbox.hubspot.errors import HubSpotError


@dataclass(frozen=True)
class ObjectType:
    name: str  # the plural name used in URLs: "companies"
    type_id: str  # HubSpot's object type id: "0-2"
    singular: str  # as in inline association types: "deal_to_company"
    error_name: str  # as in "Could not get some COMPANY objects"


OBJECT_TYPES = {
    t.name: t
    for t in (
        ObjectType("contacts", "0-1", "contact", "CONTACT"),
        ObjectType("companies", "0-2", "company", "COMPANY"),
        ObjectType("deals", "0-3", "deal", "DEAL"),
        ObjectType("tasks", "0-27", "task", "TASK"),
        ObjectType("meetings", "0-47", "meeting_event", "MEETING_EVENT"),
    )
}
_ALIASES = {
    alias: t.name
    for t in OBJECT_TYPES.values()
    for alias in (t.name, t.type_id, t.singular, t.name.rstrip("s"))
}

# (from, to) -> HubSpot's default (unlabeled) association type id, HUBSPOT_DEFINED.
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("companies", "meetings"): 187,
    ("meetings", "companies"): 188,
    ("companies", "tasks"): 191,
    ("tasks", "companies"): 192,
    ("contacts", "meetings"): 199,
    ("meetings", "contacts"): 200,
    ("contacts", "tasks"): 203,
    ("tasks", "contacts"): 204,
    ("deals", "meetings"): 211,
    ("meetings", "deals"): 212,
    ("deals", "tasks"): 215,
    ("tasks", "deals"): 216,
}


def object_type(name: str) -> ObjectType:
    """The object type a URL or body names (plural name, singular name or 0-x id)."""
    canonical = _ALIASES.get(name.lower())
    if canonical is None:
        raise HubSpotError(400, "OBJECT_NOT_FOUND", f"Unable to infer object type from: {name}")
    return OBJECT_TYPES[canonical]


def association_target(from_type: str, type_id: int) -> str | None:
    """The object type a default association type id from `from_type` points at."""
    for (source, target), known in ASSOCIATION_TYPES.items():
        if source == from_type and known == type_id:
            return target
    return None


def association_label(from_type: str, to_type: str) -> str:
    """The `type` HubSpot gives an inline association: "deal_to_company"."""
    return f"{OBJECT_TYPES[from_type].singular}_to_{OBJECT_TYPES[to_type].singular}"
