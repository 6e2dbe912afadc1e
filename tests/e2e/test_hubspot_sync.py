"""The whole job on the HubSpot sandbox portal through the real hubspot-api-client."""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects.models import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)
from typer.testing import CliRunner

from connector.cli import app
from connector.config.load import load_config
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.protocol import TaskIntent
from connector.errors import ConnectorError
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.hubspot import check_response
from connector.settings import Settings
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, cli_env
from tests.lines import line_of


def _tasks(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    return sandbox.portal.records("tasks")


def _keys(sandbox: RunningSandbox) -> Counter[str]:
    return Counter(t["properties"].get("cs_action_key") for t in _tasks(sandbox))


def _no_email(settings: Settings) -> Settings:
    """Without an SMTP relay: only the rule tasks are created, in as few batches as they fit."""
    return settings.model_copy(update={"smtp_host": None})


def test_same_scores_and_tasks_as_on_salesforce(tmp_path: Path, project: Path) -> None:
    results: dict[str, tuple[dict[str, Any], Counter[tuple[str, str, str]]]] = {}
    for crm in ("salesforce", "hubspot"):
        with running_sandbox(
            tmp_path / crm, crm=crm, as_of=AS_OF, customers=60, project_dir=project
        ) as sandbox:
            outcome = run_sync(sandbox.settings, dry_run=False)
            assert outcome.summary.failures == []
            if crm == "salesforce":
                names = {a["Id"]: a["Name"] for a in sandbox.org.records("Account")}
                scores = {
                    a["Name"]: (
                        a["CS_Health_Score__c"],
                        a["CS_Health_Color__c"],
                        a["CS_Touch_Tier__c"],
                    )
                    for a in sandbox.org.records("Account")
                    if a["Type"] == "Customer"
                }
                tasks = Counter(
                    (names[t["WhatId"]], t["Subject"], t["ActivityDate"])
                    for t in sandbox.org.records("Task")
                )
            else:
                companies = {c["id"]: c["properties"] for c in sandbox.portal.records("companies")}
                scores = {
                    p["name"]: (
                        float(p["cs_health_score"]),
                        p["cs_health_color"],
                        p["cs_touch_tier"],
                    )
                    for p in companies.values()
                    if p.get("lifecyclestage") == "customer"
                }
                tasks = Counter(
                    (
                        companies[t["associations"]["companies"][0]]["name"],
                        t["properties"]["hs_task_subject"],
                        t["properties"]["hs_timestamp"][:10],
                    )
                    for t in _tasks(sandbox)
                )
            results[crm] = (scores, tasks)

    (sf_scores, sf_tasks), (hs_scores, hs_tasks) = results["salesforce"], results["hubspot"]
    assert len(sf_scores) == 60
    assert hs_scores == sf_scores
    assert sum(sf_tasks.values()) > 40
    assert hs_tasks == sf_tasks


def test_tasks_are_assigned_associated_and_keyed(hubspot: RunningSandbox) -> None:
    outcome = run_sync(hubspot.settings, dry_run=False)

    companies = {c["id"]: c["properties"] for c in hubspot.portal.records("companies")}
    by_key = {t["properties"]["cs_action_key"]: t for t in _tasks(hubspot)}
    for planned in outcome.plan.tasks:
        task = by_key[planned.key]
        company = task["associations"]["companies"]
        assert company == [planned.account_id]
        owner = task["properties"]["hubspot_owner_id"]
        assert owner == planned.assignee_id
        assert owner in {  # the owner, or the CSM for rules that assign to csm_id
            companies[company[0]]["hubspot_owner_id"],
            companies[company[0]]["cs_csm_owner_id"],
        }
        assert task["properties"]["hs_timestamp"].startswith(planned.due_date.isoformat())
        assert task["properties"]["hs_task_status"] == "NOT_STARTED"


def test_a_second_run_writes_and_creates_nothing(hubspot: RunningSandbox) -> None:
    first = run_sync(hubspot.settings, dry_run=False)
    assert first.summary.records_written == 60
    assert first.summary.tasks_created > 0
    hubspot.portal.reset_log()

    second = run_sync(hubspot.settings, dry_run=False)

    assert second.summary.records_written == 0
    assert second.summary.tasks_created == 0
    assert second.summary.emails_sent == 0
    assert hubspot.portal.count_calls("objects.batch_update") == 0
    assert hubspot.portal.count_calls("objects.batch_create") == 0
    assert max(_keys(hubspot).values()) == 1


def test_writes_use_hubspot_batch_maximum_and_no_association_calls(
    tmp_path: Path, project: Path
) -> None:
    with running_sandbox(
        tmp_path / "hs", crm="hubspot", as_of=AS_OF, customers=250, project_dir=project
    ) as sandbox:
        outcome = run_sync(_no_email(sandbox.settings), dry_run=False)

        tasks = outcome.summary.tasks_created
        assert outcome.summary.records_written == 250
        assert sandbox.portal.count_calls("objects.batch_update") == 3
        assert sandbox.portal.count_calls("objects.batch_create") == math.ceil(tasks / 100)
        assert tasks > 100  # so the creates really were split at 100
        # an empty portal: one count and one (empty) read instead of a search per 100 keys
        assert sandbox.portal.count_calls("objects.search") == 3  # with the cooldown search
        associations = [c for c in sandbox.portal.calls if c.operation.startswith("associations")]
        assert [c.operation for c in associations] == ["associations.labels"]  # once, at start


def test_a_lost_create_response_leaves_exactly_one_task(hubspot: RunningSandbox) -> None:
    settings = _no_email(hubspot.settings)
    hubspot.portal.drop_after_commit("POST", "/crm/v3/objects/tasks/batch/create")

    first = run_sync(settings, dry_run=False)
    unknown = [f for f in first.summary.failures if f.code == "OUTCOME_UNKNOWN"]
    assert unknown, "the dropped batch is reported, not counted as created"
    assert first.summary.tasks_created == len(first.plan.tasks) - len(unknown)

    hubspot.portal.reset_log()
    second = run_sync(settings, dry_run=False)

    assert hubspot.portal.count_calls("associations.batch_read") >= 1  # reconciled, not searched
    assert second.summary.tasks_created == 0
    assert second.summary.failures == []
    keys = _keys(hubspot)
    assert set(keys) == {t.key for t in first.plan.tasks}
    assert max(keys.values()) == 1


def test_an_intent_that_never_reached_hubspot_is_created_once(hubspot: RunningSandbox) -> None:
    settings = _no_email(hubspot.settings)
    planned = run_sync(settings, dry_run=True).plan.tasks
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    store.tasks_creating(t.key for t in planned[:5])  # a crash right after recording intent
    store.close()

    outcome = run_sync(settings, dry_run=False)

    assert outcome.summary.failures == []
    assert outcome.summary.tasks_created == len(planned)
    keys = _keys(hubspot)
    assert set(keys) == {t.key for t in planned}
    assert max(keys.values()) == 1


def test_a_429_storm_loses_and_duplicates_nothing(hubspot: RunningSandbox) -> None:
    hubspot.portal.rate_limit = (100, 200)  # 429s announce a 0.2 s window: a quick test
    hubspot.portal.refuse_fraction(0.3, seed=11)

    outcome = run_sync(_no_email(hubspot.settings), dry_run=False)

    refused = [c for c in hubspot.portal.calls if c.status == 429]
    assert len(refused) >= 10
    assert outcome.summary.failures == []
    assert outcome.summary.records_written == 60
    keys = _keys(hubspot)
    assert set(keys) == {t.key for t in outcome.plan.tasks}
    assert max(keys.values()) == 1
    hubspot.portal.clear_faults()
    again = run_sync(_no_email(hubspot.settings), dry_run=False)
    assert (again.summary.records_written, again.summary.tasks_created) == (0, 0)


def test_every_sandbox_response_is_valid_under_the_client_models(hubspot: RunningSandbox) -> None:
    run_sync(hubspot.settings, dry_run=False)
    run_sync(hubspot.settings, dry_run=False)

    exchanges = hubspot.portal.exchanges
    assert {e.operation for e in exchanges} >= {
        "objects.get_page",
        "objects.batch_read",
        "objects.batch_update",
        "objects.batch_create",
        "objects.search",
        "owners.get_page",
        "properties.get_all",
        "associations.labels",
    }
    problems = [problem for exchange in exchanges for problem in check_response(exchange)]
    assert problems == []


def test_a_refused_value_fails_only_its_company(hubspot: RunningSandbox) -> None:
    portal = hubspot.portal
    color = next(s for s in portal.property_specs("companies") if s.name == "cs_health_color")
    portal.remove_property("companies", "cs_health_color")
    without_red = tuple(o for o in color.options if o.value != "Red")
    portal.add_property("companies", dataclasses.replace(color, options=without_red))

    outcome = run_sync(hubspot.settings, dry_run=False)

    red = {
        u.record_id
        for u in outcome.plan.updates
        if any(c.field == "cs_health_color" and c.new == "Red" for c in u.changes)
    }
    assert red, "the demo company has red accounts"
    assert any(c.status == 207 for c in portal.calls if c.operation == "objects.batch_update")
    failures = outcome.summary.failures
    assert {f.record for f in failures} == red
    assert {f.code for f in failures} == {"VALIDATION_ERROR"}
    assert outcome.summary.records_written == 60 - len(red)
    written = {c["id"]: c["properties"] for c in portal.records("companies")}
    assert all(written[i].get("cs_health_score") is None for i in red)  # all or nothing per input


def test_validate_names_a_missing_property_at_its_mapping_line(
    hubspot: RunningSandbox, project: Path
) -> None:
    hubspot.portal.remove_property("companies", "cs_health_trend")

    result = CliRunner().invoke(app, ["validate"], env=cli_env(hubspot))

    mapping = project / "mappings" / "hubspot.yaml"
    assert result.exit_code == 2, result.output
    line = line_of(mapping, "health_trend: cs_health_trend")
    assert (
        f"{mapping}:{line}: HubSpot companies have no property 'cs_health_trend'" in result.output
    )
    assert hubspot.portal.count_calls("objects.batch_update") == 0


@pytest.mark.parametrize("missing", ["HUBSPOT_ACCESS_TOKEN", "HUBSPOT_PORTAL_ID"])
def test_missing_hubspot_settings_are_named(hubspot: RunningSandbox, missing: str) -> None:
    settings = hubspot.settings.model_copy(update={missing.lower(): None})
    with pytest.raises(ConnectorError, match=f"CRM=hubspot needs {missing}"):
        run_sync(settings, dry_run=False)


def test_each_email_is_sent_once_and_logged_as_one_completed_task(
    hubspot: RunningSandbox,
) -> None:
    outcome = run_sync(hubspot.settings, dry_run=False)
    run_sync(hubspot.settings, dry_run=False)

    sent = {str(m["X-CS-Connector-Key"]) for m in hubspot.smtp.messages}
    assert outcome.summary.emails_sent == len(sent) == len(hubspot.smtp.messages) > 0
    logged = [
        t["properties"] for t in _tasks(hubspot) if t["properties"]["hs_task_type"] == "EMAIL"
    ]
    assert {p["cs_action_key"] for p in logged} == sent
    assert len(logged) == len(sent)  # the in-progress log was completed, not created twice
    assert {p["hs_task_status"] for p in logged} == {"COMPLETED"}
    assert all(p["hs_task_subject"].startswith("Email: ") for p in logged)


def test_a_task_completed_in_hubspot_starts_the_cooldown(hubspot: RunningSandbox) -> None:
    """The CSM completes a low-scouting task in HubSpot; next week the rule fires again but
    waits out its 14 days, and accounts whose task is still open get no second one."""
    settings = _no_email(hubspot.settings)
    run_sync(settings, dry_run=False)
    low_scouting = sorted(
        (
            t
            for t in _tasks(hubspot)
            if t["properties"]["cs_action_key"].startswith("low-scouting:")
        ),
        key=lambda t: int(t["id"]),
    )
    assert len(low_scouting) >= 2
    done, *still_open = low_scouting
    s = settings
    assert s.hubspot_access_token is not None
    client = HubSpot(
        access_token=s.hubspot_access_token.get_secret_value(),
        host=s.hubspot_url,
        ssl_ca_cert=str(s.ca_bundle),
    )
    client.crm.objects.batch_api.update(
        "tasks",
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(
                    id=done["id"], properties={"hs_task_status": "COMPLETED"}
                )
            ]
        ),
    )

    next_week = settings.model_copy(update={"as_of_date": AS_OF + timedelta(7)})
    outcome = run_sync(next_week, dry_run=False)

    reasons = {
        s.key.rsplit(":", 2)[1]: s.reason
        for s in outcome.plan.suppressed
        if s.rule_id == "low-scouting"
    }
    assert reasons[done["associations"]["companies"][0]].startswith("cooling down until ")
    for task in still_open:
        company = task["associations"]["companies"][0]
        assert reasons[company] == "an earlier task of this rule is still open"
    assert not [t for t in outcome.plan.tasks if t.rule_id == "low-scouting"]


def test_150_tasks_are_two_batch_creates_with_inline_associations(
    hubspot: RunningSandbox,
) -> None:
    settings = hubspot.settings
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "hubspot")
    companies = [c for c in hubspot.portal.records("companies") if c["properties"].get("name")]
    tasks = [
        TaskIntent(
            key=f"bulk:{company['id']}:{n:016x}",
            rule_id="bulk",
            account_id=company["id"],
            account_name=company["properties"]["name"],
            assignee_id=company["properties"]["hubspot_owner_id"],
            subject=f"Task {n}",
            description="",
            due_date=AS_OF,
            priority="Normal",
            status="NOT_STARTED",
        )
        for n, company in zip(range(150), companies * 3, strict=False)
    ]
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    hubspot.portal.reset_log()
    with closing(HubSpotAdapter(settings, config.mapping, store)) as crm:
        result = crm.create_tasks(tasks)
    store.close()

    assert (result.written, result.failures) == (150, [])
    calls = [(c.operation, c.inputs) for c in hubspot.portal.calls]
    assert calls == [  # the association type is looked up once, not per task
        ("associations.labels", 0),
        ("objects.batch_create", 100),
        ("objects.batch_create", 50),
    ]
    assert {t["associations"]["companies"][0] for t in _tasks(hubspot)} == {
        t.account_id for t in tasks
    }


def test_the_client_paces_itself_to_the_window_the_portal_announces(
    hubspot: RunningSandbox,
) -> None:
    """Settings say 100 per 10 s, the portal's headers say 6 per second: no call is refused."""
    hubspot.portal.rate_limit = (6, 1_000)

    outcome = run_sync(_no_email(hubspot.settings), dry_run=False)

    assert outcome.summary.failures == []
    assert outcome.summary.crm_api.calls > 3 * 6  # so it had to wait for the window
    assert [c for c in hubspot.portal.calls if c.status == 429] == []


def test_the_slack_digest_links_to_companies_in_the_portal(hubspot: RunningSandbox) -> None:
    run_sync(hubspot.settings, dry_run=False)

    (digest,) = [p for p in hubspot.slack.posts if str(p["text"]).startswith("Accounts needing")]
    companies = {c["id"] for c in hubspot.portal.records("companies")}
    links = re.findall(r"https://app\.hubspot\.com/contacts/24681357/record/0-2/(\d+)", str(digest))
    assert links
    assert set(links) <= companies


def test_a_mistyped_object_type_is_a_config_error_at_its_line(
    hubspot: RunningSandbox, project: Path
) -> None:
    mapping = project / "mappings" / "hubspot.yaml"
    mapping.write_text(mapping.read_text().replace("  object: tasks\n", "  object: taks\n"))

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(hubspot))

    assert result.exit_code == 2, result.output
    line = line_of(mapping, "object: taks")
    assert f"{mapping}:{line}: HubSpot has no object type 'taks'" in result.output
    assert hubspot.portal.count_calls("objects.batch_update") == 0


def test_a_lost_update_answer_is_retried_as_updates_are_safe_to_repeat(
    hubspot: RunningSandbox,
) -> None:
    hubspot.portal.drop_after_commit("POST", "/crm/v3/objects/companies/batch/update")

    outcome = run_sync(_no_email(hubspot.settings), dry_run=False)

    updates = [c for c in hubspot.portal.calls if c.operation == "objects.batch_update"]
    assert len(updates) == 2  # the dropped one, then its retry
    assert outcome.summary.failures == []
    assert outcome.summary.records_written == 60


def test_a_used_up_daily_limit_stops_the_run_with_exit_code_6(hubspot: RunningSandbox) -> None:
    hubspot.portal.daily_limit = 8  # the run needs more

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(hubspot))

    assert result.exit_code == 6, result.output
    assert "daily API limit is used up" in result.output
    refused = [c for c in hubspot.portal.calls if c.status == 429]
    assert len(refused) == 1  # not retried: waiting cannot help before tomorrow
    assert hubspot.portal.count_calls("objects.batch_create") == 0


@pytest.mark.parametrize(
    "customers", [15, 60], ids=["few keys: searched by key", "many keys: all keyed tasks read"]
)
def test_a_lost_store_makes_no_second_task(tmp_path: Path, project: Path, customers: int) -> None:
    """The ledger is gone, but the tasks are found by their keys in HubSpot."""
    with running_sandbox(
        tmp_path / "hs", crm="hubspot", as_of=AS_OF, customers=customers, project_dir=project
    ) as hubspot:
        settings = _no_email(hubspot.settings)
        first = run_sync(settings, dry_run=False)
        store = Path(settings.state_database_url.get_secret_value().removeprefix("sqlite:///"))
        store.unlink()

        again = run_sync(settings, dry_run=False)

        assert first.summary.tasks_created > 0
        assert again.summary.tasks_created == 0
        assert max(_keys(hubspot).values()) == 1
