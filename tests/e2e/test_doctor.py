"""`doctor` on an org or portal that is not set up yet: it says what is missing and how to fix
it, `--apply` creates the fields, and a second `doctor` is clean."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app
from connector.errors import ConfigError
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.hubspot import check_response
from connector.sandbox.salesforce import DEFAULT_SCHEMA
from connector.sandbox.salesforce.schema import FieldSchema, without_fields
from tests.e2e.conftest import AS_OF, cli_env
from tests.lines import line_of

NOT_SET_UP = {"Account": {"CS_Health_Trend__c", "CS_Touch_Tier__c"}, "Task": {"CS_Action_Key__c"}}


@pytest.fixture
def new_org(tmp_path: Path, project: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "new-org",
        as_of=AS_OF,
        customers=20,
        project_dir=project,
        schema=without_fields(DEFAULT_SCHEMA, NOT_SET_UP),
    ) as running:
        yield running


def _doctor(sandbox: RunningSandbox, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["doctor", *args], env=cli_env(sandbox))
    return result.exit_code, result.output


def test_doctor_reports_missing_fields_with_setup_steps(
    new_org: RunningSandbox, project: Path
) -> None:
    code, output = _doctor(new_org)
    assert code == EXIT_CONFIG
    mapping = project / "mappings" / "salesforce.yaml"
    line = line_of(mapping, "CS_Health_Trend__c")
    assert f"Account.CS_Health_Trend__c is missing ({mapping}:{line})" in output
    assert "New: Picklist (High Touch, Low Touch, Tech Touch), API name CS_Touch_Tier__c" in output
    assert "Task.CS_Action_Key__c is missing" in output
    assert "Account.CS_Health_Score__c (Number(5, 1))" in output  # what is fine is shown too
    assert re.search(r"^ok  API budget: \d+ of 15000 daily requests left$", output, re.M)
    assert "3 thing(s) to fix" in output


def test_doctor_apply_creates_them_and_the_next_doctor_is_clean(new_org: RunningSandbox) -> None:
    code, output = _doctor(new_org, "--apply")
    assert code == 0, output
    assert (
        "Created Account.CS_Health_Trend__c, Account.CS_Touch_Tier__c, "
        "Task.CS_Action_Key__c, Edit access to 3 field(s) in the permission set "
        "CS_Connector, assigned to the integration user." in output
    )
    code, output = _doctor(new_org)
    assert code == 0, output
    assert "The org is ready." in output

    outcome = run_sync(new_org.settings, dry_run=False)
    assert outcome.summary.failures == []
    tiers = Counter(
        a["CS_Touch_Tier__c"] for a in new_org.org.records("Account") if a["Type"] == "Customer"
    )
    assert tiers == {"High Touch": 9, "Low Touch": 8, "Tech Touch": 3}  # the 20 customers


def test_created_fields_survive_a_restart_of_the_sandbox(tmp_path: Path, project: Path) -> None:
    schema = without_fields(DEFAULT_SCHEMA, NOT_SET_UP)
    state = tmp_path / "org"
    with running_sandbox(
        state, as_of=AS_OF, customers=5, project_dir=project, schema=schema
    ) as first:
        assert _doctor(first, "--apply")[0] == 0
    with running_sandbox(state, project_dir=project, schema=schema) as again:
        assert _doctor(again)[0] == 0


def test_doctor_reports_a_missing_rule_field_and_a_field_the_user_cannot_edit(
    tmp_path: Path, project: Path
) -> None:
    """A field some rule's set_fields writes (rule_fields) is checked like every result field;
    a field created through the API is read-only to the integration user until a permission
    set grants Edit; `--apply` fixes both, and the run then writes them."""
    removed = {"Account": {"CS_Renewal_Status__c", "CS_Health_Reason__c"}}
    with running_sandbox(
        tmp_path / "org",
        as_of=AS_OF,
        customers=20,
        project_dir=project,
        schema=without_fields(DEFAULT_SCHEMA, removed),
    ) as org:
        reason = next(
            f for f in DEFAULT_SCHEMA["Account"].fields if f.name == "CS_Health_Reason__c"
        )
        org.org.add_custom_field("Account", reason)  # as Setup or another tool made it
        mapping = project / "mappings" / "salesforce.yaml"

        code, output = _doctor(org)
        assert code == EXIT_CONFIG
        line = line_of(mapping, "renewal_status: CS_Renewal_Status__c")
        assert f"Account.CS_Renewal_Status__c is missing ({mapping}:{line})" in output
        assert "New: Text(255), API name CS_Renewal_Status__c" in output
        line = line_of(mapping, "CS_Health_Reason__c")
        assert (
            "Account.CS_Health_Reason__c is read-only for the integration user (field-level "
            f"security) ({mapping}:{line})" in output
        )
        assert (
            "Deploy docs/salesforce/permissionsets/CS_Connector.permissionset-meta.xml and assign "
            "it to the integration user" in output
        )
        assert "2 thing(s) to fix" in output
        with pytest.raises(ConfigError, match=r"CS_Health_Reason__c is not updateable.*--apply"):
            run_sync(org.settings, dry_run=False)  # a run refuses before writing anything

        code, output = _doctor(org, "--apply")
        assert code == 0, output
        assert "Edit access to 2 field(s) in the permission set CS_Connector" in output
        assert "The org is ready." in output
        outcome = run_sync(org.settings, dry_run=False)
        assert outcome.summary.failures == []
        assert any(a["CS_Health_Reason__c"] for a in org.org.records("Account"))
        assert {a["CS_Renewal_Status__c"] for a in org.org.records("Account")} > {None}


def test_doctor_recommends_unique_on_the_task_key(tmp_path: Path, project: Path) -> None:
    schema = dict(without_fields(DEFAULT_SCHEMA, {"Task": {"CS_Action_Key__c"}}))
    task = schema["Task"]
    key = FieldSchema(
        "CS_Action_Key__c",
        "string",
        "CS Action Key",
        True,
        True,
        True,
        external_id=True,
        unique=False,
        length=255,
    )
    schema["Task"] = dataclasses.replace(task, fields=(*task.fields, key))
    with running_sandbox(
        tmp_path / "org", as_of=AS_OF, customers=5, project_dir=project, schema=schema
    ) as org:
        code, output = _doctor(org)
    assert code == EXIT_CONFIG
    assert "Task.CS_Action_Key__c is an External ID but not Unique" in output
    assert "tick Unique" in output
    assert "1 thing(s) to fix" in output


@pytest.fixture
def new_portal(hubspot: RunningSandbox) -> RunningSandbox:
    for object_type, name in (
        ("companies", "cs_health_trend"),
        ("companies", "cs_touch_tier"),
        ("companies", "cs_renewal_status"),  # under rule_fields: a rule's set_fields writes it
        ("tasks", "cs_action_key"),
    ):
        hubspot.portal.remove_property(object_type, name)
    return hubspot


def test_doctor_on_hubspot_reports_missing_properties_then_creates_them(
    new_portal: RunningSandbox, project: Path
) -> None:
    code, output = _doctor(new_portal)
    assert code == EXIT_CONFIG
    mapping = project / "mappings" / "hubspot.yaml"
    line = line_of(mapping, "health_trend: cs_health_trend")
    assert f"companies.cs_health_trend is missing ({mapping}:{line})" in output
    assert (
        "Create property: Dropdown select (High Touch, Low Touch, Tech Touch), internal name "
        "cs_touch_tier" in output
    )
    assert "tasks.cs_action_key is missing" in output
    line = line_of(mapping, "renewal_status: cs_renewal_status")
    assert f"companies.cs_renewal_status is missing ({mapping}:{line})" in output
    assert "companies.cs_health_score (Number)" in output
    assert "4 thing(s) to fix" in output

    code, output = _doctor(new_portal, "--apply")
    assert code == 0, output
    assert (
        "Created companies.cs_health_trend, companies.cs_touch_tier, "
        "companies.cs_renewal_status, tasks.cs_action_key." in output
    )
    assert "The portal is ready." in output
    specs = {s.name: s for s in new_portal.portal.property_specs("companies")}
    assert [o.value for o in specs["cs_touch_tier"].options] == [
        "High Touch",
        "Low Touch",
        "Tech Touch",
    ]
    assert (specs["cs_health_trend"].type, specs["cs_health_trend"].group_name) == (
        "number",
        "cs_connector",
    )

    outcome = run_sync(new_portal.settings, dry_run=False)
    assert outcome.summary.failures == []


def test_doctor_on_hubspot_says_when_a_property_cannot_hold_what_is_written(
    hubspot: RunningSandbox,
) -> None:
    color = next(
        s for s in hubspot.portal.property_specs("companies") if s.name == "cs_health_color"
    )
    hubspot.portal.remove_property("companies", "cs_health_color")
    hubspot.portal.add_property("companies", dataclasses.replace(color, options=color.options[:2]))

    code, output = _doctor(hubspot)

    assert code == EXIT_CONFIG
    assert "companies.cs_health_color lacks the dropdown options Red" in output


def test_doctor_on_hubspot_names_the_scopes_the_private_app_lacks(
    hubspot: RunningSandbox,
) -> None:
    code, output = _doctor(hubspot)
    assert code == 0, output
    assert "ok  Token scopes: the 9 the worker needs" in output

    hubspot.portal.scopes -= {"crm.objects.contacts.write", "crm.objects.owners.read"}
    code, output = _doctor(hubspot)
    assert code == EXIT_CONFIG
    assert (
        "The access token lacks the scopes crm.objects.contacts.write, crm.objects.owners.read"
        in output
    )
    assert "Scopes: tick crm.objects.contacts.write (create tasks and log sent emails);" in output
    assert "1 thing(s) to fix" in output
    problems = [p for exchange in hubspot.portal.exchanges for p in check_response(exchange)]
    assert problems == []  # the token info answer has HubSpot's documented keys
