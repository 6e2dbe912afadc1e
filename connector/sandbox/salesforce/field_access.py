"""Field-level security, as far as an integration needs it: a field created through the API
is read-only for the integration user (describe says not updateable nor createable, writes
are refused) until a permission set granting Edit on it is assigned to that user.

The sandbox models the one API user its connected apps run as (`INTEGRATION_USER_ID`):
access comes from `FieldPermissions` rows (PermissionsEdit) of a `PermissionSet` that a
`PermissionSetAssignment` gives to that user — the sObjects `doctor --apply` writes, and
what deploying the shipped permission set and assigning it produces in a real org.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from connector.sandbox.salesforce.schema import FieldSchema

ACCESS_OBJECTS = frozenset({"PermissionSet", "FieldPermissions", "PermissionSetAssignment"})


def editable_fields(
    field_permissions: Iterable[Mapping[str, Any]],
    assignments: Iterable[Mapping[str, Any]],
    user_id: str,
) -> set[str]:
    """`Object.Field` names `user_id` may edit through its assigned permission sets."""
    assigned = {a["PermissionSetId"] for a in assignments if a["AssigneeId"] == user_id}
    return {
        str(p["Field"]).lower()
        for p in field_permissions
        if p["ParentId"] in assigned and p["PermissionsEdit"]
    }


def with_access(field: FieldSchema, editable: bool) -> FieldSchema:
    """The API-created `field` as its user sees it: writable only with Edit access."""
    return replace(field, updateable=editable, createable=editable)
