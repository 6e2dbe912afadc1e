"""The sObject Describe resource: the schema in the shape `GET sobjects/{Object}/describe`
returns, which is what clients read field types, access and External IDs from."""

from __future__ import annotations

from typing import Any

from connector.sandbox.salesforce.schema import FieldSchema, ObjectSchema


def describe_object(obj: ObjectSchema, api_version: str) -> dict[str, Any]:
    base = f"/services/data/v{api_version}/sobjects/{obj.name}"
    return {
        "name": obj.name,
        "label": obj.label,
        "keyPrefix": obj.key_prefix,
        "custom": obj.name.endswith("__c"),
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "searchable": True,
        "fields": [describe_field(field) for field in obj.fields],
        "childRelationships": [],
        "recordTypeInfos": [],
        "urls": {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        },
    }


def describe_field(field: FieldSchema) -> dict[str, Any]:
    return {
        "name": field.name,
        "label": field.label,
        "type": field.type,
        "length": field.length or 0,
        "precision": field.precision or 0,
        "scale": field.scale or 0,
        "digits": 9 if field.type == "int" else 0,
        "custom": field.name.endswith("__c"),
        "updateable": field.updateable,
        "createable": field.createable,
        "nillable": field.nillable,
        "defaultedOnCreate": field.default is not None or not field.createable,
        "defaultValue": field.default,
        "externalId": field.external_id,
        "unique": field.unique,
        "idLookup": field.type == "id" or field.external_id,
        "calculated": field.calculated,
        "filterable": True,
        "sortable": field.type != "textarea",
        "nameField": field.name == "Name",
        "restrictedPicklist": bool(field.picklist),
        "picklistValues": [
            {
                "value": value,
                "label": value,
                "active": True,
                "defaultValue": value == field.default,
                "validFor": None,
            }
            for value in field.picklist
        ],
        "referenceTo": list(field.reference_to),
        "relationshipName": field.relationship_name,
    }
