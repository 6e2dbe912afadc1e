"""What only HubSpot does, through the real hubspot-api-client against the sandbox portal: the
write-ahead task ledger and its reconciliation, rate-limit windows and 429 storms, the client
models' contract, inline associations. What every CRM does is in test_crm_contract.py."""

from __future__ import annotations

import math
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from connector.config.load import load_config
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.protocol import TaskIntent
from connector.errors import ConnectorError
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.hubspot import check_response
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, CRMS, CUSTOMERS, sandbox_crm, without_email

RULE_TASKS, EMAILS = 106, 9  # what the shipped playbooks make of the demo company
BATCH_LIMIT = CRMS["hubspot"].max_write_batch


def _keys(sandbox: RunningSandbox) -> Counter[str]:
    return Counter(t["properties"].get("cs_action_key") for t in sandbox.portal.records("tasks"))


def test_same_scores_and_tasks_as_on_salesforce(tmp_path: Path, project: Path) -> None:
    results: dict[str, tuple[dict[str, Any], Counter[tuple[str, str, str]]]] = {}
    for crm_name in CRMS:
        with running_sandbox(
            tmp_path / crm_name, crm=crm_name, as_of=AS_OF, customers=CUSTOMERS, project_dir=project
        ) as sandbox:
            outcome = run_sync(sandbox.settings, dry_run=False)
            assert outcome.summary.failures == []
            crm = sandbox_crm(sandbox)
            customers = crm.customers()
            names = {a.id: a.name for a in customers}
            scores = {
                a.name: tuple(a.results[r] for r in ("health_score", "health_color", "touch_tier"))
                for a in customers
            }
            tasks = Counter(
                (names[t.account_id], t.subject, t.due.isoformat()) for t in crm.tasks()
            )
            results[crm_name] = (scores, tasks)

    (sf_scores, sf_tasks), (hs_scores, hs_tasks) = results["salesforce"], results["hubspot"]
    assert len(sf_scores) == CUSTOMERS
    assert hs_scores == sf_scores
    assert sum(sf_tasks.values()) == RULE_TASKS + EMAILS  # each email is logged as a task
    assert hs_tasks == sf_tasks


def test_an_empty_portal_costs_no_association_calls_and_no_search_per_100_keys(
    tmp_path: Path, project: Path
) -> None:
    """Tasks are associated inline as they are created, and an empty ledger is checked with one
    count and one (empty) read instead of a search per 100 keys."""
    with running_sandbox(
        tmp_path / "hs", crm="hubspot", as_of=AS_OF, customers=250, project_dir=project
    ) as sandbox:
        outcome = run_sync(without_email(sandbox.settings), dry_run=False)

        tasks = outcome.summary.tasks_created
        assert outcome.summary.records_written == 250
        assert tasks == 457  # five batches: a search per 100 keys would be five searches
        assert sandbox.portal.count_calls("objects.batch_update") == 3
        assert sandbox.portal.count_calls("objects.batch_create") == math.ceil(tasks / BATCH_LIMIT)
        assert sandbox.portal.count_calls("objects.search") == 3  # with the cooldown search
        associations = [c for c in sandbox.portal.calls if c.operation.startswith("associations")]
        assert [c.operation for c in associations] == ["associations.labels"]  # once, at start


def test_a_lost_create_answer_is_reported_unknown_and_reconciled_by_association(
    hubspot: RunningSandbox,
) -> None:
    """HubSpot cannot upsert on a key: the batch whose answer was lost is never sent again
    blindly; the next run finds its tasks through the association API (which, unlike search,
    sees a task the moment it exists)."""
    settings = without_email(hubspot.settings)
    hubspot.portal.drop_after_commit("POST", "/crm/v3/objects/tasks/batch/create")

    first = run_sync(settings, dry_run=False)
    unknown = [f for f in first.summary.failures if f.code == "OUTCOME_UNKNOWN"]
    assert len(unknown) == BATCH_LIMIT  # the dropped batch is reported, not counted as created
    assert first.summary.tasks_created == RULE_TASKS - BATCH_LIMIT

    hubspot.portal.reset_log()
    second = run_sync(settings, dry_run=False)

    assert hubspot.portal.count_calls("associations.batch_read") == 1  # reconciled
    # only the cooldown search's two pages, as on any second run: no key is searched for
    assert hubspot.portal.count_calls("objects.search") == 2
    assert second.summary.tasks_created == 0
    assert second.summary.failures == []
    keys = _keys(hubspot)
    assert set(keys) == {t.key for t in first.plan.tasks}
    assert max(keys.values()) == 1


def test_an_intent_that_never_reached_hubspot_is_created_once(hubspot: RunningSandbox) -> None:
    settings = without_email(hubspot.settings)
    planned = run_sync(settings, dry_run=True).plan.tasks
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    store.tasks_creating(t.key for t in planned[:5])  # a crash right after recording intent
    store.close()

    outcome = run_sync(settings, dry_run=False)

    assert outcome.summary.failures == []
    assert outcome.summary.tasks_created == len(planned) == RULE_TASKS
    keys = _keys(hubspot)
    assert set(keys) == {t.key for t in planned}
    assert max(keys.values()) == 1


def test_a_lost_store_makes_no_second_task_when_few_keys_are_searched_by_key(
    tmp_path: Path, project: Path
) -> None:
    """The ledger is gone, but the tasks are found by their keys in HubSpot. With few keys
    they are searched for by key; with many, every keyed task is read (the contract test
    test_a_run_that_lost_its_store_creates_no_second_task, at 60 customers)."""
    with running_sandbox(
        tmp_path / "hs", crm="hubspot", as_of=AS_OF, customers=15, project_dir=project
    ) as hubspot:
        settings = without_email(hubspot.settings)
        first = run_sync(settings, dry_run=False)
        store = Path(settings.state_database_url.get_secret_value().removeprefix("sqlite:///"))
        store.unlink()

        again = run_sync(settings, dry_run=False)

        assert first.summary.tasks_created == 23  # the rules' tasks for 15 customers
        assert again.summary.tasks_created == 0
        assert max(_keys(hubspot).values()) == 1


def test_a_429_storm_loses_and_duplicates_nothing(hubspot: RunningSandbox) -> None:
    hubspot.portal.rate_limit = (100, 200)  # 429s announce a 0.2 s window: a quick test
    hubspot.portal.refuse_fraction(0.3, seed=11)

    outcome = run_sync(without_email(hubspot.settings), dry_run=False)

    refused = [c for c in hubspot.portal.calls if c.status == 429]
    assert len(refused) >= 10
    assert outcome.summary.failures == []
    assert outcome.summary.records_written == CUSTOMERS
    keys = _keys(hubspot)
    assert set(keys) == {t.key for t in outcome.plan.tasks}
    assert max(keys.values()) == 1
    hubspot.portal.clear_faults()
    again = run_sync(without_email(hubspot.settings), dry_run=False)
    assert (again.summary.records_written, again.summary.tasks_created) == (0, 0)


def test_the_client_paces_itself_to_the_window_the_portal_announces(
    hubspot: RunningSandbox,
) -> None:
    """Settings say 100 per 10 s, the portal's headers say 6 per second: no call is refused."""
    hubspot.portal.rate_limit = (6, 1_000)

    outcome = run_sync(without_email(hubspot.settings), dry_run=False)

    assert outcome.summary.failures == []
    assert outcome.summary.crm_api.calls > 3 * 6  # so it had to wait for the window
    assert [c for c in hubspot.portal.calls if c.status == 429] == []


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
    assert {t["associations"]["companies"][0] for t in hubspot.portal.records("tasks")} == {
        t.account_id for t in tasks
    }


@pytest.mark.parametrize("missing", ["HUBSPOT_ACCESS_TOKEN", "HUBSPOT_PORTAL_ID"])
def test_missing_hubspot_settings_are_named(hubspot: RunningSandbox, missing: str) -> None:
    settings = hubspot.settings.model_copy(update={missing.lower(): None})
    with pytest.raises(ConnectorError, match=f"CRM=hubspot needs {missing}"):
        run_sync(settings, dry_run=False)
