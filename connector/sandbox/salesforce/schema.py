"""What the sandbox org's objects and fields are: the data behind describe, SOQL and DML.

Types use the names Salesforce's describe reports (string, double, picklist, reference...),
so the worker reads this org's metadata exactly as it reads a real org's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from connector.sandbox.salesforce.errors import SalesforceError

STRING_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
ID_TYPES = frozenset({"id", "reference"})


@dataclass(frozen=True)
class FieldSchema:
    name: str
    type: str
    label: str
    updateable: bool
    createable: bool
    nillable: bool
    external_id: bool = False
    unique: bool = False
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    calculated: bool = False
    default: str | bool | None = None  # applied on create when the field is not given

    @property
    def required(self) -> bool:
        """Must be given on create: Salesforce's REQUIRED_FIELD_MISSING rule."""
        return self.createable and not self.nillable and self.default is None


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    key_prefix: str
    label: str
    fields: tuple[FieldSchema, ...]

    @cached_property
    def _by_lower_name(self) -> dict[str, FieldSchema]:
        return {f.name.lower(): f for f in self.fields}

    @cached_property
    def _by_lower_relationship(self) -> dict[str, FieldSchema]:
        return {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}

    def field(self, name: str) -> FieldSchema | None:
        """The field called `name` in any letter case, as API names are case-insensitive."""
        return self._by_lower_name.get(name.lower())

    def relationship(self, name: str) -> FieldSchema | None:
        """The reference field whose relationship is called `name` (Owner, CSM__r)."""
        return self._by_lower_relationship.get(name.lower())


def find_object(schema: Mapping[str, ObjectSchema], name: str) -> ObjectSchema | None:
    """The object called `name` in any letter case."""
    lowered = name.lower()
    return next((o for key, o in schema.items() if key.lower() == lowered), None)


def require_object(schema: Mapping[str, ObjectSchema], name: str) -> ObjectSchema:
    """The object called `name` in any letter case; INVALID_TYPE when the org has none."""
    obj = find_object(schema, name)
    if obj is None:
        raise SalesforceError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj


def without_fields(
    schema: Mapping[str, ObjectSchema], removed: Mapping[str, set[str]]
) -> dict[str, ObjectSchema]:
    """A copy of `schema` lacking some fields: an org whose admin has not set them up yet."""
    return {
        name: replace(
            obj, fields=tuple(f for f in obj.fields if f.name not in removed.get(name, set()))
        )
        for name, obj in schema.items()
    }


# -- building the demo org's schema --------------------------------------------------------


def _label(name: str) -> str:
    """`CS_Health_Score__c` → "CS Health Score", `OwnerId` → "Owner ID"."""
    words = re.sub(r"__[cr]$", "", name).replace("_", " ")
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)
    return re.sub(r"\bId\b", "ID", words)


def _field(name: str, type_: str, *, label: str | None = None, **extra: Any) -> FieldSchema:
    options: dict[str, Any] = {"updateable": True, "createable": True, "nillable": True}
    options.update(extra)
    return FieldSchema(name=name, type=type_, label=label or _label(name), **options)


def _text(name: str, length: int = 255, type_: str = "string", **extra: Any) -> FieldSchema:
    return _field(name, type_, length=length, **extra)


def _number(name: str, type_: str = "double", precision: int = 18, scale: int = 2) -> FieldSchema:
    return _field(name, type_, precision=precision, scale=scale)


def _score(name: str) -> FieldSchema:
    return _number(name, precision=5, scale=1)


def _picklist(name: str, *values: str, default: str | None = None, **extra: Any) -> FieldSchema:
    return _field(name, "picklist", length=255, picklist=values, default=default, **extra)


def _flag(name: str, *, default: bool = False, label: str | None = None) -> FieldSchema:
    return _field(name, "boolean", label=label, nillable=False, default=default)


def _lookup(name: str, target: str, relationship: str, **extra: Any) -> FieldSchema:
    return _field(
        name,
        "reference",
        length=18,
        reference_to=(target,),
        relationship_name=relationship,
        **extra,
    )


def _owner() -> FieldSchema:
    return _lookup("OwnerId", "User", "Owner", nillable=False)


def _formula(name: str, type_: str, *, label: str | None = None, **extra: Any) -> FieldSchema:
    return _field(
        name, type_, label=label, updateable=False, createable=False, calculated=True, **extra
    )


def _object(name: str, key_prefix: str, *fields: FieldSchema) -> ObjectSchema:
    record_id = FieldSchema("Id", "id", "Record ID", False, False, False, length=18)
    audit = tuple(
        FieldSchema(audit_name, "datetime", _label(audit_name), False, False, False)
        for audit_name in ("CreatedDate", "LastModifiedDate", "SystemModstamp")
    )
    # true only on records in the recycle bin, which only queryAll returns
    deleted = FieldSchema("IsDeleted", "boolean", "Deleted", False, False, False, default=False)
    return ObjectSchema(name, key_prefix, _label(name), (record_id, *fields, *audit, deleted))


_ACTIVITY_TYPES = ("Call", "Email", "Meeting", "Other")

DEFAULT_SCHEMA: Mapping[str, ObjectSchema] = {
    schema.name: schema
    for schema in (
        _object(
            "User",
            "005",
            _formula("Name", "string", label="Full Name", length=121),
            _text("FirstName", 40),
            _text("LastName", 80, nillable=False),
            _text("Email", 128, type_="email", nillable=False),
            _text("Title", 80),
            _flag("IsActive", default=True, label="Active"),
        ),
        _object(
            "Account",
            "001",
            _text("Name", 255, label="Account Name", nillable=False),
            _owner(),
            _picklist(
                "Type", "Customer", "Former Customer", "Prospect", "Partner", label="Account Type"
            ),
            _text("Industry", 255),
            _field("Contract_Start_Date__c", "date"),
            _text("Product_Tenant_Id__c", 40),
            _lookup("CSM__c", "User", "CSM__r", label="CSM"),
            _score("CS_Health_Score__c"),
            _picklist("CS_Health_Color__c", "Green", "Yellow", "Red"),
            _score("CS_Health_Trend__c"),
            _field("CS_Health_Trend_Baseline_Date__c", "date"),
            _text("CS_Health_Reason__c", 255),
            _score("CS_Deployment_Score__c"),
            _score("CS_Engagement_Score__c"),
            _score("CS_Adoption_Score__c"),
            _score("CS_ROI_Score__c"),
            _text("CS_Journey_Stage__c", 80),
            _field("CS_Journey_Stage_Since__c", "date"),
            _picklist("CS_Touch_Tier__c", "High Touch", "Low Touch", "Tech Touch"),
            _picklist("Language__c", "en", "ja"),
            _picklist("CS_Renewal_Status__c", "Not Started", "Confirming", "Confirmed", "At Risk"),
            _text("CS_Health_Model_Version__c", 40),
            _field("CS_Last_Scored_Date__c", "date"),
            _number("CS_Churn_Risk__c", precision=4, scale=3),  # 0–1
            _text("CS_Churn_Risk_Reasons__c", 255),
        ),
        _object(
            "Opportunity",
            "006",
            _text("Name", 120, nillable=False),
            _lookup("AccountId", "Account", "Account"),
            _number("Amount", "currency"),
            _field("CloseDate", "date", nillable=False),
            _picklist(
                "StageName",
                "Prospecting",
                "Negotiation",
                "Closed Won",
                "Closed Lost",
                label="Stage",
                nillable=False,
            ),
            _picklist("Type", "New Business", "Renewal", "Expansion", label="Opportunity Type"),
            _formula("IsClosed", "boolean", label="Closed", nillable=False),
            _formula("IsWon", "boolean", label="Won", nillable=False),
            _owner(),
        ),
        _object(
            "Contact",
            "003",
            _lookup("AccountId", "Account", "Account"),
            _text("FirstName", 40),
            _text("LastName", 80, nillable=False),
            _formula("Name", "string", label="Full Name", length=121),
            _text("Email", 80, type_="email"),
            _text("Title", 128),
            _picklist("CS_Role__c", "Decision Maker", "Champion", "Admin", "User"),
            _flag("HasOptedOutOfEmail", label="Email Opt Out"),
            _flag("IsPrimary__c", label="Primary"),
        ),
        _object(
            "Task",
            "00T",
            _text("Subject", 255),
            _text("Description", 32000, type_="textarea"),
            _field("ActivityDate", "date", label="Due Date Only"),
            _picklist(
                "Status",
                "Not Started",
                "In Progress",
                "Completed",
                default="Not Started",
                nillable=False,
            ),
            _picklist("Priority", "High", "Normal", "Low", default="Normal", nillable=False),
            _owner(),
            _lookup("WhatId", "Account", "What", label="Related To ID"),
            _lookup("WhoId", "Contact", "Who", label="Name ID"),
            _picklist("Type", *_ACTIVITY_TYPES),
            _formula("IsClosed", "boolean", label="Closed", nillable=False),
            _formula("CompletedDateTime", "datetime", label="Completed Date/Time"),
            _text("CS_Action_Key__c", 255, external_id=True, unique=True),
        ),
        _object(
            "PermissionSet",
            "0PS",
            _text("Name", 80, nillable=False, label="API Name"),
            _text("Label", 80, nillable=False),
            _text("Description", 255),
        ),
        _object(
            "FieldPermissions",
            "01k",
            _lookup("ParentId", "PermissionSet", "Parent", nillable=False),
            _text("SobjectType", 80, nillable=False),
            _text("Field", 255, nillable=False),
            _flag("PermissionsRead", label="Read Access"),
            _flag("PermissionsEdit", label="Edit Access"),
        ),
        _object(
            "PermissionSetAssignment",
            "0Pa",
            _lookup("PermissionSetId", "PermissionSet", "PermissionSet", nillable=False),
            # a User Id; text because the sandbox's integration user is not a User record
            _text("AssigneeId", 18, nillable=False),
        ),
        _object(
            "Event",
            "00U",
            _text("Subject", 255),
            _lookup("WhatId", "Account", "What", label="Related To ID"),
            _lookup("WhoId", "Contact", "Who", label="Name ID"),
            _field("StartDateTime", "datetime", nillable=False),
            _field("EndDateTime", "datetime", nillable=False),
            _field("ActivityDate", "date", label="Due Date Only"),
            _picklist("Type", *_ACTIVITY_TYPES),
            _owner(),
        ),
    )
}
