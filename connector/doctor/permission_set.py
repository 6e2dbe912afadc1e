"""The Salesforce permission set that gives the integration user Edit access to every field
the worker writes: fields created in Setup or by `doctor --apply` are read-only to every
profile until an admin grants access, and the worker cannot write them.

Shipped as metadata an admin deploys (`PERMISSION_SET_FILE`, checked against the shipped
mapping by a test), and written by `doctor --apply` as the PermissionSet, FieldPermissions
and PermissionSetAssignment records that deploying and assigning it produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from connector.config.load import Config
from connector.doctor.fields import written_fields


@dataclass(frozen=True)
class PermissionSet:
    name: str  # the API name
    label: str
    description: str


PERMISSION_SET = PermissionSet(
    "CS_Connector",
    "CS Connector",
    "Edit access to the fields CS Connector writes; assign it to the integration user.",
)
PERMISSION_SET_FILE = "docs/salesforce/permissionsets/CS_Connector.permissionset-meta.xml"


def permission_set_xml(config: Config) -> str:
    """The permission set's metadata (sfdx source format) for the fields `config` writes."""
    names = sorted({f"{s.object_name}.{s.name}" for s in written_fields(config).values()})
    permissions = "".join(
        "    <fieldPermissions>\n"
        "        <editable>true</editable>\n"
        f"        <field>{escape(name)}</field>\n"
        "        <readable>true</readable>\n"
        "    </fieldPermissions>\n"
        for name in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<PermissionSet xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        f"    <description>{escape(PERMISSION_SET.description)}</description>\n"
        f"{permissions}"
        "    <hasActivationRequired>false</hasActivationRequired>\n"
        f"    <label>{escape(PERMISSION_SET.label)}</label>\n"
        "</PermissionSet>\n"
    )


if __name__ == "__main__":  # regenerate the shipped file from the shipped mapping
    from pathlib import Path

    from connector.config.load import load_config

    shipped = load_config(Path("mappings"), Path("playbooks"), "salesforce")
    Path(PERMISSION_SET_FILE).write_text(permission_set_xml(shipped))
