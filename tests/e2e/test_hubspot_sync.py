"""What only HubSpot does, through the real hubspot-api-client against the sandbox portal: the
write-ahead task ledger and its reconciliation, rate-limit windows and 429 storms, the client
models' contract, inline associations. What every CRM does is in test_crm_contract.py."""

from __future__ import annotations

import math
from collections import Counter
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connector.config.load import load_config
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.protocol import ActionKey
from connector.errors import ConnectorError
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.hubspot import check_response
from connector.settings import Settings
from connector.store import HistoryStore
from tests.e2e.conftest import (
    AS_OF,
    CRMS,
    CUSTOMERS,
    bulk_task_intents,
    sandbox_crm,
    without_daily_limit,
    without_email,
)
from tests.e2e.test_crm_contract import EMAILS, EMAILS_NOT_SENT, RULE_TASKS, RULE_TASKS_WANTED

BATCH_LIMIT = CRMS["hubspot"].max_write_batch
SEARCH_NEVER_CATCHES_UP = 3_600.0  # seconds of search index lag: longer than any test


def _keys(sandbox: RunningSandbox) -> Counter[str]:
    return Counter(t["properties"].get("cs_action_key") for t in sandbox.portal.records("tasks"))


def _sent(sandbox: RunningSandbox) -> Counter[str]:
    """The emails the SMTP server accepted, by action key."""
    return Counter(str(m["X-CS-Connector-Key"]) for m in sandbox.smtp.messages)


def _new_store(settings: Settings, path: Path) -> Settings:
    """The same worker on an empty history store: a CronJob without a volume, a rescheduled
    pod, a database restored from before the last run."""
    return settings.model_copy(update={"state_database_url": SecretStr(f"sqlite:///{path}")})


def test_same_scores_and_tasks_as_on_salesforce(tmp_path: Path, project: Path) -> None:
    results: dict[str, tuple[dict[str, Any], Counter[tuple[str, str, str]]]] = {}
    for crm_name in CRMS:
        with running_sandbox(
            tmp_path / crm_name, crm=crm_name, as_of=AS_OF, customers=CUSTOMERS, project_dir=project
        ) as sandbox:
            # every task: under the limit, ties are broken by key, and ids differ by CRM
            outcome = run_sync(without_daily_limit(sandbox.settings), dry_run=False)
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
    assert sum(sf_tasks.values()) == RULE_TASKS_WANTED + EMAILS + EMAILS_NOT_SENT  # emails: logged
    assert hs_tasks == sf_tasks


def test_an_empty_store_looks_its_keys_up_by_association_100_accounts_a_call(
    tmp_path: Path, project: Path
) -> None:
    """Tasks are associated inline as they are created, and keys the ledger does not know are
    looked for among their accounts' tasks — an association read per 100 accounts, never a
    search per 100 keys — so the only search is the cooldown query's."""
    with running_sandbox(
        tmp_path / "hs", crm="hubspot", as_of=AS_OF, customers=250, project_dir=project
    ) as sandbox:
        outcome = run_sync(without_daily_limit(without_email(sandbox.settings)), dry_run=False)

        tasks = outcome.summary.tasks_created
        accounts = {ActionKey.parse(t.key).account_id for t in outcome.plan.tasks}
        assert outcome.summary.records_written == 250
        assert tasks == 499  # five batches (457 before customers 25…250 went silent: 453, and
        # 460 once their seats are carried as a level and they read as low-scouting; 499 since
        # check-ins go on every quarter past the first year)
        assert sandbox.portal.count_calls("objects.batch_update") == 3
        assert sandbox.portal.count_calls("objects.batch_create") == math.ceil(tasks / BATCH_LIMIT)
        assert sandbox.portal.count_calls("objects.search") == 1  # the keyed tasks, into the mirror
        assert sandbox.portal.count_calls("objects.batch_read") == 0  # no task to read yet
        reads = [c.inputs for c in sandbox.portal.calls if c.operation == "associations.batch_read"]
        assert reads == [100, 100, len(accounts) - 200]  # each account with a key once
        assert sandbox.portal.count_calls("associations.labels") == 1  # once, at start


def test_a_lost_create_answer_is_reported_unknown_and_reconciled_by_association(
    hubspot: RunningSandbox,
) -> None:
    """HubSpot cannot upsert on a key: the batch whose answer was lost is never sent again
    blindly; the next run finds its tasks through the association API (which, unlike search,
    sees a task the moment it exists)."""
    settings = without_daily_limit(without_email(hubspot.settings))  # more than one batch
    hubspot.portal.drop_after_commit("POST", "/crm/v3/objects/tasks/batch/create")

    first = run_sync(settings, dry_run=False)
    unknown = [f for f in first.summary.failures if f.code == "OUTCOME_UNKNOWN"]
    # the dropped batch is reported, not counted as created; the batches go side by side, so
    # it is whichever reached HubSpot first: a full one or the last
    assert len(unknown) in (BATCH_LIMIT, RULE_TASKS_WANTED % BATCH_LIMIT)
    assert first.summary.tasks_created == RULE_TASKS_WANTED - len(unknown)

    hubspot.portal.reset_log()
    second = run_sync(settings, dry_run=False)

    # the lost batch's accounts and those of keys never created (the unsent emails' logs)
    tasks_of = [
        c
        for c in hubspot.portal.calls
        if c.path == "/crm/v4/associations/companies/tasks/batch/read"
    ]
    assert len(tasks_of) == 1  # 60 accounts at most
    task_searches = [c for c in hubspot.portal.calls if c.path == "/crm/v3/objects/tasks/search"]
    assert len(task_searches) == 1  # the cooldown search: no key's
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


def test_a_lost_store_reads_the_tasks_of_accounts_with_keys_peoples_included(
    tmp_path: Path, project: Path
) -> None:
    """What the lookup costs: one association call per 100 accounts with keys the ledger does
    not know, and one batch read per 100 of those accounts' tasks — the CSMs' own tasks too,
    which carry no key and are left alone."""
    with running_sandbox(
        tmp_path / "hs", crm="hubspot", as_of=AS_OF, customers=15, project_dir=project
    ) as hubspot:
        settings = without_email(hubspot.settings)
        first = run_sync(settings, dry_run=False)
        accounts = {t.account_id for t in first.plan.tasks}
        for account in sorted(accounts):
            for n in range(12):  # a CSM's own calls and follow-ups
                hubspot.portal.insert(
                    "tasks",
                    {"hs_timestamp": "2026-11-20", "hs_task_subject": f"Call {n}"},
                    [("companies", account)],
                )
        hubspot.portal.search_lag_seconds = SEARCH_NEVER_CATCHES_UP
        hubspot.portal.reset_log()

        again = run_sync(_new_store(settings, tmp_path / "lost.db"), dry_run=False)

        assert again.summary.tasks_created == 0
        keys = _keys(hubspot)
        assert keys.pop(None) == 12 * len(accounts)  # the people's tasks, untouched
        assert keys == Counter(t.key for t in first.plan.tasks)
        held = len(keys) + 12 * len(accounts)
        assert 100 < held <= 200
        calls = hubspot.portal.calls
        reads = [(c.operation, c.inputs) for c in calls if c.operation.endswith("batch_read")]
        # the batch reads go CRM_CONCURRENCY at a time: the log holds them in either order
        assert sorted(reads, key=lambda read: (read[0], -read[1])) == [
            ("associations.batch_read", len(accounts)),
            ("objects.batch_read", 100),
            ("objects.batch_read", held - 100),
        ]


def test_a_lost_store_and_a_lagging_search_index_make_no_second_task_or_email(
    hubspot: RunningSandbox, tmp_path: Path
) -> None:
    """Search has not yet seen the first run's tasks and email logs when a run on an empty
    store starts; the association read has, so nothing is created or sent again."""
    hubspot.portal.search_lag_seconds = SEARCH_NEVER_CATCHES_UP
    first = run_sync(hubspot.settings, dry_run=False)
    planned = {t.key for t in first.plan.tasks}, {e.key for e in first.plan.emails}
    assert (first.summary.tasks_created, first.summary.emails_sent) == tuple(map(len, planned))
    assert first.summary.emails_sent > 0
    hubspot.portal.reset_log()

    again = run_sync(_new_store(hubspot.settings, tmp_path / "lost.db"), dry_run=False)

    assert (again.plan.tasks, again.plan.emails) == ((), ())
    assert (again.summary.tasks_created, again.summary.emails_sent) == (0, 0)
    assert again.summary.failures == []
    not_sent = {s.key for s in first.plan.emails_skipped}  # logged once, as not sent
    assert _keys(hubspot) == Counter(planned[0] | planned[1] | not_sent)  # each key once
    assert _sent(hubspot) == Counter(planned[1])
    # one read of 60 customers' task associations; no search for a key
    assert hubspot.portal.count_calls("associations.batch_read") == 1
    assert hubspot.portal.count_calls("objects.search") == 1  # the keyed tasks, into a new mirror


def test_a_lost_create_answer_a_lost_store_and_a_lagging_index_leave_each_task_once(
    hubspot: RunningSandbox, tmp_path: Path
) -> None:
    """A run's batch create committed but its answer was lost (as when the process dies
    mid-call), the store that knew of the intent is gone, and search lags: the next run finds
    those tasks through the association read and creates none of them again."""
    hubspot.portal.search_lag_seconds = SEARCH_NEVER_CATCHES_UP
    hubspot.portal.drop_after_commit("POST", "/crm/v3/objects/tasks/batch/create")
    settings = without_daily_limit(hubspot.settings)  # a first batch of 100, and more
    first = run_sync(settings, dry_run=False)
    unknown = [f for f in first.summary.failures if f.code == "OUTCOME_UNKNOWN"]
    assert len(unknown) in (
        BATCH_LIMIT,
        len(first.plan.tasks) % BATCH_LIMIT,
    )  # whichever came first
    assert (first.summary.tasks_created, first.summary.emails_sent) == (
        len(first.plan.tasks) - len(unknown),
        len(first.plan.emails),
    )

    again = run_sync(_new_store(settings, tmp_path / "lost.db"), dry_run=False)
    third = run_sync(_new_store(settings, tmp_path / "lost-again.db"), dry_run=False)

    for run in (again, third):
        assert (run.summary.tasks_created, run.summary.emails_sent) == (0, 0)
        assert run.summary.failures == []
    keys = {t.key for t in first.plan.tasks} | {e.key for e in first.plan.emails}
    keys |= {s.key for s in first.plan.emails_skipped}  # logged once, as not sent
    assert _keys(hubspot) == Counter(keys)
    assert _sent(hubspot) == Counter(e.key for e in first.plan.emails)


def test_an_open_task_search_has_not_seen_still_holds_its_rule_back_next_week(
    hubspot: RunningSandbox, tmp_path: Path
) -> None:
    """A new period's key is new to any ledger, but the open task of the rule's last period —
    created moments ago and not yet in search — still blocks it: a run on an empty store with
    a lagging index plans exactly what one with a caught-up index plans."""
    hubspot.portal.search_lag_seconds = SEARCH_NEVER_CATCHES_UP
    first = run_sync(hubspot.settings, dry_run=False)
    next_week = hubspot.settings.model_copy(update={"as_of_date": AS_OF + timedelta(7)})
    hubspot.portal.search_lag_seconds = 0.0
    caught_up = run_sync(_new_store(next_week, tmp_path / "caught-up.db"), dry_run=True).plan
    hubspot.portal.search_lag_seconds = SEARCH_NEVER_CATCHES_UP

    outcome = run_sync(_new_store(next_week, tmp_path / "lagging.db"), dry_run=False)

    held = [s for s in caught_up.suppressed if s.reason.endswith("still open")]
    assert held  # last week's open tasks hold their rules back
    assert outcome.plan.suppressed == caught_up.suppressed
    assert [t.key for t in outcome.plan.tasks] == [t.key for t in caught_up.tasks]
    assert [e.key for e in outcome.plan.emails] == [e.key for e in caught_up.emails]
    earlier = {(t.rule_id, t.account_id) for t in first.plan.tasks}
    assert earlier.isdisjoint((t.rule_id, t.account_id) for t in outcome.plan.tasks)
    assert max(_keys(hubspot).values()) == 1
    assert max(_sent(hubspot).values()) == 1


def test_a_429_storm_loses_and_duplicates_nothing(hubspot: RunningSandbox) -> None:
    hubspot.portal.rate_limit = (100, 200)  # 429s announce a 0.2 s window: a quick test
    hubspot.portal.refuse_fraction(0.3, seed=11)

    settings = without_daily_limit(without_email(hubspot.settings))  # calls to refuse: 2 creates
    outcome = run_sync(settings, dry_run=False)

    refused = [c for c in hubspot.portal.calls if c.status == 429]
    assert len(refused) >= 10
    assert outcome.summary.failures == []
    assert outcome.summary.records_written == CUSTOMERS
    keys = _keys(hubspot)
    assert set(keys) == {t.key for t in outcome.plan.tasks}
    assert max(keys.values()) == 1
    hubspot.portal.clear_faults()
    again = run_sync(settings, dry_run=False)
    assert (again.summary.records_written, again.summary.tasks_created) == (0, 0)


def test_the_client_paces_itself_to_the_window_the_portal_announces(
    hubspot: RunningSandbox,
) -> None:
    """Settings say 100 per 10 s, the portal's headers say 6 per second: no call is refused."""
    hubspot.portal.rate_limit = (6, 1_000)

    outcome = run_sync(without_email(hubspot.settings), dry_run=False)

    assert outcome.summary.failures == []
    assert outcome.summary.crm_api.calls > 2 * 6  # so it had to wait for the window
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
    tasks = bulk_task_intents(hubspot, 150, "NOT_STARTED")
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    hubspot.portal.reset_log()
    with closing(HubSpotAdapter(settings, config.mapping, store)) as crm:
        result = crm.create_tasks(tasks)
    store.close()

    assert (result.written, result.failures) == (150, [])
    calls = [(c.operation, c.inputs) for c in hubspot.portal.calls]
    # the association type is looked up once, not per task; the creates go side by side
    assert calls[0] == ("associations.labels", 0)
    assert sorted(calls[1:]) == [("objects.batch_create", 50), ("objects.batch_create", 100)]
    assert {t["associations"]["companies"][0] for t in hubspot.portal.records("tasks")} == {
        t.account_id for t in tasks
    }


@pytest.mark.parametrize("missing", ["HUBSPOT_ACCESS_TOKEN", "HUBSPOT_PORTAL_ID"])
def test_missing_hubspot_settings_are_named(hubspot: RunningSandbox, missing: str) -> None:
    settings = hubspot.settings.model_copy(update={missing.lower(): None})
    with pytest.raises(ConnectorError, match=f"CRM=hubspot needs {missing}"):
        run_sync(settings, dry_run=False)
