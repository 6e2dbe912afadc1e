"""`cs-connector doctor` on Salesforce: is this org set up for the worker, and what is missing?

Checks the login, the API version, every mapped field, every field the worker writes (results
and rule_fields: type, the running user's edit access, picklist values, the External ID and
Unique on the task key) and the API budget; with `--apply`, creates the missing fields
through the Tooling API and gives the running user Edit access to every written field through
the CS_Connector permission set (created, completed and assigned as needed).
"""

from __future__ import annotations

from connector.config.load import Config
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.describe import FieldInfo
from connector.doctor.fields import FieldSpec, written_fields
from connector.doctor.findings import BUDGET_WARNING, Finding
from connector.doctor.permission_set import PERMISSION_SET, PERMISSION_SET_FILE


def diagnose(crm: SalesforceAdapter, config: Config) -> list[Finding]:
    findings = [_api_version(crm, config)]
    doc = config.mapping_doc
    for problem in crm.check_mapping(config.mapping):
        if problem.loc[0] in ("results", "rule_fields", "tasks"):
            continue  # the written fields are checked below, with how to create them
        findings.append(
            Finding(
                False,
                problem.message,
                "Fix the mapping or the org.",
                f"{doc.path}:{doc.line_of(problem.loc)}",
            )
        )
    for loc, spec in written_fields(config).items():
        findings.append(_written_field(crm, spec, f"{doc.path}:{doc.line_of(loc)}"))
    findings.append(_budget(crm))
    return findings


def apply_fixes(crm: SalesforceAdapter, findings: list[Finding]) -> list[str]:
    """Create every missing field a finding knows how to create, then give the running user
    Edit access to those and to every field it cannot edit; returns what was done."""
    created = []
    for finding in findings:
        if finding.create is not None:
            spec = finding.create
            crm.create_custom_field(f"{spec.object_name}.{spec.name}", spec.metadata()["Metadata"])
            created.append(f"{spec.object_name}.{spec.name}")
    grants = [f.create or f.grant for f in findings if f.create or f.grant]
    names = [f"{spec.object_name}.{spec.name}" for spec in grants if spec is not None]
    if names:
        crm.grant_field_access(PERMISSION_SET.name, PERMISSION_SET.label, names)
        created.append(
            f"Edit access to {len(names)} field(s) in the permission set {PERMISSION_SET.name}, "
            "assigned to the integration user"
        )
    return created


def _api_version(crm: SalesforceAdapter, config: Config) -> Finding:
    wanted = config.mapping.api_version
    offered = crm.api_versions()
    if wanted in offered:
        return Finding(True, f"API version {wanted} is served (newest: {max(offered, key=float)})")
    return Finding(
        False,
        f"API version {wanted} is not served by this org",
        f"Set api_version in the mapping to one of {', '.join(offered[-5:])}.",
    )


def _written_field(crm: SalesforceAdapter, spec: FieldSpec, where: str) -> Finding:
    label = f"{spec.object_name}.{spec.name}"
    field = crm.describe(spec.object_name).field(spec.name)
    if field is None:
        return Finding(
            False,
            f"{label} is missing",
            f"Setup → Object Manager → {spec.object_name} → Fields & Relationships → "
            f"New: {spec.describe()}, API name {spec.name}; give the integration "
            "user Edit access. Or run `cs-connector doctor --apply`.",
            where,
            create=spec,
        )
    problem = _mismatch(spec, field)
    if problem:
        return Finding(False, f"{label} {problem[0]}", problem[1], where)
    if not (field.updateable and (field.createable or not spec.external_id)):
        return Finding(
            False,
            f"{label} is read-only for the integration user (field-level security)",
            f"Deploy {PERMISSION_SET_FILE} and assign it to the integration user (README: "
            "Field access), or run `cs-connector doctor --apply`.",
            where,
            grant=spec,
        )
    return Finding(True, f"{label} ({spec.describe()})")


def _mismatch(spec: FieldSpec, field: FieldInfo) -> tuple[str, str] | None:
    if field.type not in spec.accepted_types:
        return (
            f"is a {field.type} field; the worker writes {spec.describe()}",
            "Map another field, or change this field's type in Setup.",
        )
    if spec.external_id and not field.external_id:
        return (
            "is not an External ID",
            "Edit the field and tick External ID and Unique, so task creates are upserts.",
        )
    if spec.external_id and not field.unique:
        return (
            "is an External ID but not Unique",
            "Edit the field and tick Unique (case-insensitive): then no two tasks can carry "
            "the same key, whatever writes them, and an upsert never matches two.",
        )
    missing = [v for v in spec.values if field.picklist and v not in field.picklist]
    if field.type == "picklist" and missing:
        return (
            f"lacks picklist values {', '.join(missing)}",
            "Add them to the field's values in Setup (the model writes them).",
        )
    return None


def _budget(crm: SalesforceAdapter) -> Finding:
    daily = crm.limits().get("DailyApiRequests", {})
    limit, remaining = daily.get("Max"), daily.get("Remaining")
    if limit is None or remaining is None:
        return Finding(True, "API budget: not reported by this org")
    text = f"API budget: {remaining} of {limit} daily requests left"
    if remaining < limit * BUDGET_WARNING:
        return Finding(
            False, text, "Runs may stop with exit code 6; raise the org's limit or run less often."
        )
    return Finding(True, text)
