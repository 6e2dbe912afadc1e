"""The Tooling API's CustomField create: what `doctor --apply` uses to add missing fields.

`POST /services/data/vXX.X/tooling/sobjects/CustomField` with
`{"FullName": "Account.CS_Health_Score__c", "Metadata": {"label", "type", ...}}`, the shape
Salesforce documents for the CustomField Tooling object.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.salesforce.errors import SalesforceError
from connector.sandbox.salesforce.schema import FieldSchema

# Metadata API field types → the type describe reports
_TYPES = {
    "Text": "string",
    "LongTextArea": "textarea",
    "Number": "double",
    "Date": "date",
    "DateTime": "datetime",
    "Checkbox": "boolean",
    "Picklist": "picklist",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
}


def custom_field(body: Any) -> tuple[str, FieldSchema]:
    """(object name, field) from a CustomField create body; errors as Salesforce words them."""
    if not isinstance(body, dict) or not isinstance(body.get("Metadata"), dict):
        raise SalesforceError("JSON_PARSER_ERROR", "CustomField needs FullName and Metadata")
    sobject, _, name = str(body.get("FullName", "")).partition(".")
    if not sobject or not name.endswith("__c"):
        raise SalesforceError("INVALID_FIELD", "FullName must be Object.Field__c")
    metadata: dict[str, Any] = body["Metadata"]
    kind = _TYPES.get(str(metadata.get("type")))
    if kind is None:
        raise SalesforceError(
            "FIELD_INTEGRITY_EXCEPTION", f"Unsupported field type: {metadata.get('type')}"
        )
    values = ((metadata.get("valueSet") or {}).get("valueSetDefinition") or {}).get("value", [])
    return sobject, FieldSchema(
        name=name,
        type=kind,
        label=str(metadata.get("label") or name),
        updateable=True,
        createable=True,
        nillable=kind != "boolean",
        external_id=bool(metadata.get("externalId")),
        unique=bool(metadata.get("unique")),
        length=metadata.get("length"),
        precision=metadata.get("precision"),
        scale=metadata.get("scale"),
        picklist=tuple(str(v["fullName"]) for v in values),
        default=False if kind == "boolean" else None,
    )
