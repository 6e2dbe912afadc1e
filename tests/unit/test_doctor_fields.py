"""The fields `doctor --apply` would create have the type of what the worker writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from connector.checks import check_config
from connector.config.load import load_config
from connector.crm.hubspot.scopes import APPLY_SCOPES, REQUIRED_SCOPES
from connector.doctor.fields import written_fields
from connector.doctor.permission_set import PERMISSION_SET_FILE, permission_set_xml

ROOT = Path(__file__).resolve().parents[2]


def _kinds(results: dict[str, str]) -> dict[str, str]:
    config = load_config(ROOT / "mappings", ROOT / "playbooks", "salesforce")
    mapping = config.mapping.model_copy(update={"results": results})
    config = dataclasses.replace(config, mapping=mapping)
    assert check_config(config) == []
    return {
        loc[1]: spec.kind for loc, spec in written_fields(config).items() if loc[0] == "results"
    }


def test_usage_weeks_are_dates_and_usage_signals_numbers() -> None:
    kinds = _kinds(
        {
            "last_usage_week": "CS_Last_Usage_Week__c",
            "usage_week": "CS_Usage_Week__c",
            "days_silent": "CS_Days_Silent__c",
            "logins_sum_4w": "CS_Logins_4w__c",
            "health_color": "CS_Health_Color__c",
        }
    )
    assert kinds == {
        "last_usage_week": "Date",
        "usage_week": "Date",
        "days_silent": "Number",
        "logins_sum_4w": "Number",
        "health_color": "Picklist",
    }


def test_the_shipped_permission_set_grants_every_field_the_shipped_mapping_writes() -> None:
    """The metadata an admin deploys is generated from the mapping; regenerate it with
    `python -m connector.doctor.permission_set` after editing mappings/salesforce.yaml."""
    config = load_config(ROOT / "mappings", ROOT / "playbooks", "salesforce")
    shipped = (ROOT / PERMISSION_SET_FILE).read_text()
    assert shipped == permission_set_xml(config)
    assert "<field>Account.CS_Renewal_Status__c</field>" in shipped  # a rule_fields field
    assert "<field>Task.CS_Action_Key__c</field>" in shipped
    assert shipped.count("<editable>true</editable>") == len(written_fields(config))


def test_the_readme_lists_every_hubspot_scope_doctor_checks() -> None:
    readme = (ROOT / "README.md").read_text()
    for scope, purpose in {**REQUIRED_SCOPES, **APPLY_SCOPES}.items():
        assert f"| `{scope}` | {purpose} |" in readme


def test_churn_risk_is_a_three_decimal_fraction_and_its_reasons_text() -> None:
    config = load_config(ROOT / "mappings", ROOT / "playbooks", "salesforce")
    fields = {loc[1]: spec.describe() for loc, spec in written_fields(config).items()}
    assert (fields["churn_risk"], fields["churn_risk_reasons"]) == ("Number(4, 3)", "Text(255)")
