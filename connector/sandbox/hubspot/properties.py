"""Property definitions per object type, and what HubSpot does to a value written to one:
refuse it with one of its validation error codes, or normalise it to the string it stores
and returns (every property value travels as a string)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
STANDARD = ("hs_object_id", "createdate", "hs_lastmodifieddate")  # always returned
CUSTOM_GROUP = "cs_connector"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_EPOCH_MS = re.compile(r"^-?\d{9,}$")


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    hidden: bool = False

    def to_json(self, order: int) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": order,
            "hidden": self.hidden,
        }


@dataclass(frozen=True)
class PropertySpec:
    """One property as the properties API describes it."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: tuple[Option, ...] = ()
    description: str = ""
    hubspot_defined: bool = True
    read_only: bool = False
    calculated: bool = False
    owner: bool = False  # an owner id: referencedObjectType OWNER, options come from owners
    has_unique_value: bool = False
    display_order: int = -1
    required_on_create: bool = False  # tasks need hs_timestamp

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [option.to_json(i) for i, option in enumerate(self.options)],
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.owner,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only and self.type != "datetime",
        }
        if self.owner:
            body["referencedObjectType"] = "OWNER"
        return body

    def to_state(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k != "options"},
            "options": [[o.value, o.label, o.hidden] for o in self.options],
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> PropertySpec:
        options = tuple(Option(*option) for option in raw["options"])
        return cls(**{**raw, "options": options})


def property_from_create(body: Mapping[str, Any]) -> PropertySpec:
    """A custom property from a PropertyCreate body (already checked against the model)."""
    name = body["name"]
    if not _NAME.match(name):
        raise ValueError(
            f"Property name {name!r} must start with a lowercase letter and contain only "
            "lowercase letters, digits and underscores."
        )
    if (
        body["type"] == "enumeration"
        and not body.get("options")
        and not body.get("externalOptions")
    ):
        raise ValueError(f"Enumeration property {name} needs options.")
    options = tuple(Option(o["value"], o["label"], o["hidden"]) for o in body.get("options") or ())
    return PropertySpec(
        name=name,
        label=body["label"],
        type=body["type"],
        field_type=body["fieldType"],
        group_name=body["groupName"],
        options=options,
        description=body.get("description") or "",
        hubspot_defined=False,
        has_unique_value=bool(body.get("hasUniqueValue")),
        display_order=body.get("displayOrder", -1),
        owner=body.get("referencedObjectType") == "OWNER",
    )


# -- the default schema ----------------------------------------------------------------------


def _options(*values: str) -> tuple[Option, ...]:
    return tuple(Option(v, v.replace("_", " ").capitalize() if v.isupper() else v) for v in values)


def _text(name: str, label: str, *, custom: bool = False, area: bool = False) -> PropertySpec:
    return PropertySpec(
        name,
        label,
        "string",
        "textarea" if area else "text",
        CUSTOM_GROUP if custom else "companyinformation",
        hubspot_defined=not custom,
    )


def _number(name: str, label: str, *, custom: bool = False) -> PropertySpec:
    group = CUSTOM_GROUP if custom else "companyinformation"
    return PropertySpec(name, label, "number", "number", group, hubspot_defined=not custom)


def _date(name: str, label: str, *, custom: bool = False) -> PropertySpec:
    group = CUSTOM_GROUP if custom else "companyinformation"
    return PropertySpec(name, label, "date", "date", group, hubspot_defined=not custom)


def _datetime(name: str, label: str, *, read_only: bool = False) -> PropertySpec:
    return PropertySpec(name, label, "datetime", "date", "engagement", read_only=read_only)


def _enum(name: str, label: str, *values: str, custom: bool = False) -> PropertySpec:
    group = CUSTOM_GROUP if custom else "companyinformation"
    options = tuple(Option(v, v) for v in values) if custom else _options(*values)
    return PropertySpec(
        name, label, "enumeration", "select", group, options, hubspot_defined=not custom
    )


def _bool(name: str, label: str, *, custom: bool = False) -> PropertySpec:
    group = CUSTOM_GROUP if custom else "contactinformation"
    options = (Option("true", "Yes"), Option("false", "No"))
    return PropertySpec(
        name, label, "bool", "booleancheckbox", group, options, hubspot_defined=not custom
    )


def _owner(name: str, label: str, *, custom: bool = False) -> PropertySpec:
    group = CUSTOM_GROUP if custom else "companyinformation"
    return PropertySpec(
        name, label, "enumeration", "select", group, hubspot_defined=not custom, owner=True
    )


def _standard() -> list[PropertySpec]:
    return [
        PropertySpec(
            "hs_object_id", "Record ID", "number", "number", "companyinformation", read_only=True
        ),
        _datetime("createdate", "Create Date", read_only=True),
        _datetime("hs_lastmodifieddate", "Last Modified Date", read_only=True),
        PropertySpec(
            "hs_merged_object_ids",
            "Merged Record IDs",
            "enumeration",
            "checkbox",
            "companyinformation",
            read_only=True,
        ),
    ]


INDUSTRIES = (
    "ACCOUNTING",
    "COMPUTER_SOFTWARE",
    "FINANCIAL_SERVICES",
    "HOSPITAL_HEALTH_CARE",
    "HOSPITALITY",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "MACHINERY",
    "RETAIL",
    "STAFFING_AND_RECRUITING",
)

_COMPANIES = [
    _text("name", "Company name"),
    _enum(
        "lifecyclestage",
        "Lifecycle Stage",
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    ),
    _owner("hubspot_owner_id", "Company owner"),
    _enum("industry", "Industry", *INDUSTRIES),
    _text("domain", "Company Domain Name"),
    _owner("cs_csm_owner_id", "CSM", custom=True),
    _date("cs_contract_start_date", "Contract start date", custom=True),
    _text("cs_product_tenant_id", "Product tenant id", custom=True),
    _enum("cs_language", "Language", "en", "ja", custom=True),
    _number("cs_health_score", "Health score", custom=True),
    _enum("cs_health_color", "Health color", "Green", "Yellow", "Red", custom=True),
    _number("cs_health_trend", "Health trend", custom=True),
    _date("cs_health_trend_baseline_date", "Health trend baseline date", custom=True),
    _text("cs_health_reason", "Health reason", custom=True, area=True),
    _text("cs_health_model_version", "Health model version", custom=True),
    _number("cs_deployment_score", "Deployment score", custom=True),
    _number("cs_engagement_score", "Engagement score", custom=True),
    _number("cs_adoption_score", "Adoption score", custom=True),
    _number("cs_roi_score", "ROI score", custom=True),
    _enum("cs_touch_tier", "Touch tier", "High Touch", "Low Touch", "Tech Touch", custom=True),
    _text("cs_journey_stage", "Journey stage", custom=True),
    _date("cs_journey_stage_since", "Journey stage since", custom=True),
    _number("cs_churn_risk", "Churn risk (0–1)", custom=True),
    _text("cs_churn_risk_reasons", "Churn risk reasons", custom=True, area=True),
    _enum(
        "cs_renewal_status",
        "Renewal status",
        "Not Started",
        "Confirming",
        "Confirmed",
        "At Risk",
        custom=True,
    ),
]
_DEALS = [
    _text("dealname", "Deal Name"),
    _number("amount", "Amount"),
    _datetime("closedate", "Close Date"),
    _enum("dealtype", "Deal Type", "newbusiness", "existingbusiness", "renewal", "expansion"),
    _enum(
        "dealstage",
        "Deal Stage",
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ),
    _enum("pipeline", "Pipeline", "default"),
    _owner("hubspot_owner_id", "Deal owner"),
    PropertySpec(
        "hs_is_closed",
        "Is Deal Closed?",
        "bool",
        "calculation_equation",
        "dealinformation",
        (Option("true", "True"), Option("false", "False")),
        read_only=True,
        calculated=True,
    ),
    PropertySpec(
        "hs_is_closed_won",
        "Is Closed Won",
        "bool",
        "calculation_equation",
        "dealinformation",
        (Option("true", "True"), Option("false", "False")),
        read_only=True,
        calculated=True,
    ),
]
_CONTACTS = [
    _text("firstname", "First Name"),
    _text("lastname", "Last Name"),
    _text("email", "Email"),
    _text("jobtitle", "Job Title"),
    _bool("hs_email_optout", "Unsubscribed from all email"),
    _enum("cs_role", "CS role", "Decision Maker", "Champion", "Admin", "User", custom=True),
    _bool("cs_primary", "Primary contact", custom=True),
]
_MEETINGS = [
    _text("hs_meeting_title", "Meeting name"),
    _datetime("hs_timestamp", "Activity date"),
    _datetime("hs_meeting_start_time", "Start Time"),
    _datetime("hs_meeting_end_time", "End Time"),
    _enum(
        "hs_meeting_outcome",
        "Meeting outcome",
        "SCHEDULED",
        "COMPLETED",
        "RESCHEDULED",
        "NO_SHOW",
        "CANCELED",
    ),
    _owner("hubspot_owner_id", "Activity assigned to"),
]
_TASKS = [
    _text("hs_task_subject", "Task Title"),
    _text("hs_task_body", "Notes", area=True),
    _enum(
        "hs_task_status",
        "Task Status",
        "NOT_STARTED",
        "IN_PROGRESS",
        "WAITING",
        "COMPLETED",
        "DEFERRED",
    ),
    _enum("hs_task_priority", "Priority", "LOW", "MEDIUM", "HIGH", "NONE"),
    _enum("hs_task_type", "Task Type", "TODO", "EMAIL", "CALL"),
    PropertySpec("hs_timestamp", "Due date", "datetime", "date", "task", required_on_create=True),
    _owner("hubspot_owner_id", "Assigned to"),
    _datetime("hs_task_completion_date", "Completed at", read_only=True),
    _text("cs_action_key", "CS action key", custom=True),
]

DEFAULT_PROPERTIES: dict[str, tuple[PropertySpec, ...]] = {
    "companies": (*_COMPANIES, *_standard()),
    "deals": (*_DEALS, *_standard()),
    "contacts": (*_CONTACTS, *_standard()),
    "meetings": (*_MEETINGS, *_standard()),
    "tasks": (*_TASKS, *_standard()),
}

# What a list call returns without a `properties` parameter (besides the standard three).
DEFAULT_RETURNED: dict[str, tuple[str, ...]] = {
    "companies": ("name", "domain"),
    "contacts": ("firstname", "lastname", "email"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
    "meetings": ("hs_meeting_title", "hs_timestamp"),
    "tasks": ("hs_task_subject", "hs_task_status", "hs_timestamp"),
}


# -- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvalidValue(Exception):
    """One entry of HubSpot's "Property values were not valid" list."""

    name: str
    error: str  # PROPERTY_DOESNT_EXIST, INVALID_OPTION, INVALID_FLOAT, ...
    message: str = field(default="")

    def to_json(self) -> dict[str, Any]:
        return {"isValid": False, "message": self.message, "error": self.error, "name": self.name}


def normalise(spec: PropertySpec, raw: str, owners: Collection[str]) -> str | None:
    """The string HubSpot stores for `raw` written to `spec` (None clears it), or
    InvalidValue. Read-only properties are the caller's business."""
    if raw == "":
        return None
    if spec.owner:
        if raw not in owners:
            raise InvalidValue(
                spec.name, "INVALID_OWNER_ID", f"No owner found with specified ID ({raw})"
            )
        return raw
    match spec.type:
        case "number":
            return _number_value(spec.name, raw)
        case "bool":
            if raw.lower() not in ("true", "false"):
                raise InvalidValue(spec.name, "INVALID_BOOLEAN", f"{raw} is not a valid boolean")
            return raw.lower()
        case "date":
            return _date_value(spec.name, raw).isoformat()
        case "datetime":
            return iso_millis(_datetime_value(spec.name, raw))
        case "enumeration":
            return _option_value(spec, raw)
    return raw


def _number_value(name: str, raw: str) -> str:
    try:
        number = Decimal(raw.strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise InvalidValue(name, "INVALID_FLOAT", f"{raw} was not a valid number.")
    return raw.strip()


def _date_value(name: str, raw: str) -> date:
    if _EPOCH_MS.match(raw):
        moment = datetime.fromtimestamp(int(raw) / 1000, UTC)
        if moment.time() != time(0):
            ms = moment.microsecond // 1000
            clock = f"{moment.hour}:{moment.minute}:{moment.second}.{ms}"
            raise InvalidValue(name, "INVALID_DATE", f"{raw} is at {clock} UTC, not midnight!")
        return moment.date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(name, "INVALID_DATE", f"{raw} was not a valid date.") from None
    if moment.timetz().replace(tzinfo=None) != time(0):
        raise InvalidValue(name, "INVALID_DATE", f"{raw} is not midnight UTC.")
    return moment.date()


def _datetime_value(name: str, raw: str) -> datetime:
    if _EPOCH_MS.match(raw):
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(name, "INVALID_DATETIME", f"{raw} was not a valid datetime.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _option_value(spec: PropertySpec, raw: str) -> str:
    values = [option.value for option in spec.options]
    chosen = raw.split(";") if spec.field_type == "checkbox" else [raw]
    for value in chosen:
        if value not in values:
            allowed = ", ".join(values)
            message = f"{value} was not one of the allowed options: [{allowed}]"
            raise InvalidValue(spec.name, "INVALID_OPTION", message)
    return raw


def iso_millis(moment: datetime) -> str:
    """HubSpot's datetime format: 2026-11-23T10:00:00.000Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_millis(value: str, kind: str) -> int | None:
    """A date or datetime property value (or filter value) as epoch milliseconds."""
    if _EPOCH_MS.match(value):
        return int(value)
    try:
        if kind == "date" and len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time(0), UTC)
        else:
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


def schema_index(specs: Sequence[PropertySpec]) -> dict[str, PropertySpec]:
    return {spec.name: spec for spec in specs}
