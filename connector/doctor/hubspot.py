"""`cs-connector doctor` on HubSpot: is this portal set up for the worker, and what is missing?

Checks the private app's scopes, every mapped property, every property the worker writes
(results and rule_fields: type, writability, dropdown options, the task key property) and
the daily API budget; with `--apply`, creates the missing properties in a "CS Connector"
property group through the properties API.
"""

from __future__ import annotations

from hubspot.crm.properties.models import OptionInput, PropertyCreate, PropertyGroupCreate

from connector.config.load import Config
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.hubspot.describe import PropertyInfo
from connector.crm.hubspot.scopes import APPLY_SCOPES, REQUIRED_SCOPES
from connector.doctor.fields import FieldSpec, written_fields
from connector.doctor.findings import BUDGET_WARNING, Finding

GROUP = PropertyGroupCreate(name="cs_connector", label="CS Connector", display_order=-1)
# FieldSpec kind → (HubSpot type, field type, how Settings → Properties names it)
PROPERTY_TYPES = {
    "Number": ("number", "number", "Number"),
    "Date": ("date", "date", "Date picker"),
    "Text": ("string", "text", "Single-line text"),
    "Picklist": ("enumeration", "select", "Dropdown select"),
}
ACCEPTED = {
    "Number": {"number"},
    "Date": {"date"},
    "Text": {"string"},
    "Picklist": {"enumeration", "string"},
}


def diagnose(crm: HubSpotAdapter, config: Config) -> list[Finding]:
    doc = config.mapping_doc
    findings = [_scopes(crm)]
    findings += [
        Finding(
            False,
            problem.message,
            "Fix the mapping, or create the property in Settings → Properties.",
            f"{doc.path}:{doc.line_of(problem.loc)}",
        )
        for problem in crm.check_mapping(config.mapping)
        if problem.loc[0] not in ("results", "rule_fields", "tasks")  # written: below
    ]
    for loc, spec in written_fields(config).items():
        findings.append(_written_property(crm, spec, f"{doc.path}:{doc.line_of(loc)}"))
    findings.append(_budget(crm))
    return findings


def apply_fixes(crm: HubSpotAdapter, findings: list[Finding]) -> list[str]:
    """Create every missing property a finding knows how to create; returns what was created."""
    created = []
    for finding in findings:
        if finding.create is not None:
            spec = finding.create
            crm.create_property(spec.object_name, GROUP, property_create(spec))
            created.append(f"{spec.object_name}.{spec.name}")
    return created


def property_create(spec: FieldSpec) -> PropertyCreate:
    """The properties API body that creates what `spec` describes."""
    kind, field_type, _ = PROPERTY_TYPES[spec.kind]
    options = [
        OptionInput(label=value, value=value, display_order=order, hidden=False)
        for order, value in enumerate(spec.values)
    ]
    return PropertyCreate(
        name=spec.name,
        label=_label(spec.name),
        type=kind,
        field_type=field_type,
        group_name=GROUP.name,
        options=options or None,
        description="Written by CS Connector on every run.",
    )


def _written_property(crm: HubSpotAdapter, spec: FieldSpec, where: str) -> Finding:
    label = f"{spec.object_name}.{spec.name}"
    info = crm.describe(spec.object_name).get(spec.name)
    if info is None:
        return Finding(
            False,
            f"{label} is missing",
            f"Settings → Properties → {spec.object_name} → Create property: {_describe(spec)}, "
            f"internal name {spec.name}. Or run `cs-connector doctor --apply`.",
            where,
            create=spec,
        )
    problem = _mismatch(spec, info)
    if problem:
        return Finding(False, f"{label} {problem[0]}", problem[1], where)
    return Finding(True, f"{label} ({_describe(spec)})")


def _mismatch(spec: FieldSpec, info: PropertyInfo) -> tuple[str, str] | None:
    accepted = ACCEPTED[spec.kind] | ({"enumeration"} if spec.set_by_rules else set())
    if info.type not in accepted:
        return (
            f"is a {info.type} property; the worker writes {_describe(spec)}",
            "Map another property, or create one of the right type.",
        )
    if info.read_only:
        return (
            "is read-only (calculated or set by HubSpot)",
            "Map a custom property the worker may write.",
        )
    missing = [v for v in spec.values if v not in info.options]
    if info.type == "enumeration" and missing:
        return (
            f"lacks the dropdown options {', '.join(missing)}",
            "Add them in Settings → Properties (the model writes them).",
        )
    return None


def _scopes(crm: HubSpotAdapter) -> Finding:
    granted = crm.token_scopes()
    if granted is None:
        return Finding(True, "Token scopes: not reported (not a private app's token)")
    missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
    if missing:
        needs = "; ".join(f"{scope} ({REQUIRED_SCOPES[scope]})" for scope in missing)
        return Finding(
            False,
            f"The access token lacks the scopes {', '.join(missing)}",
            f"Settings → Integrations → Private Apps → your app → Scopes: tick {needs}; "
            "then Commit changes (the token stays the same).",
        )
    without_apply = [scope for scope in APPLY_SCOPES if scope not in granted]
    note = (
        f"; without {', '.join(without_apply)}, create properties by hand" if without_apply else ""
    )
    return Finding(True, f"Token scopes: the {len(REQUIRED_SCOPES)} the worker needs{note}")


def _budget(crm: HubSpotAdapter) -> Finding:
    usage = crm.usage
    if usage.daily_limit is None or usage.used_today is None:
        return Finding(True, "API budget: not reported by this portal")
    remaining = usage.daily_limit - usage.used_today
    text = f"API budget: {remaining} of {usage.daily_limit} daily requests left"
    if remaining < usage.daily_limit * BUDGET_WARNING:
        return Finding(
            False, text, "Runs may stop with exit code 6; buy the API add-on or run less often."
        )
    return Finding(True, text)


def _describe(spec: FieldSpec) -> str:
    name = PROPERTY_TYPES[spec.kind][2]
    return f"{name} ({', '.join(spec.values)})" if spec.values else name


def _label(name: str) -> str:
    """`cs_health_score` → "CS health score"."""
    words = ["CS" if word == "cs" else word for word in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]
