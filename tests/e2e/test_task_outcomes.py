"""Task outcomes reach the history store on both CRMs: every task a run creates, and its
completion once a CSM completes it in the CRM, read back by the next run by key."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import cast

import pytest
import yaml
from simple_salesforce.api import SFType

from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, SandboxCrm, salesforce_client, sandbox_crm


def _outcomes(crm: SandboxCrm) -> dict[str, tuple[object, ...]]:
    store = HistoryStore.open(crm.sandbox.settings.state_database_url.get_secret_value())
    try:
        table = store.task_outcomes()
    finally:
        store.close()
    return {
        key: tuple(rest)
        for key, *rest in table.select(
            "key", "account_id", "owner_id", "created_on", "closed", "completed_on"
        ).rows()
    }


def test_a_task_completed_by_the_csm_is_recorded_by_the_next_run(crm: SandboxCrm) -> None:
    first = run_sync(crm.sandbox.settings, dry_run=False)
    tasks = [task for task in crm.tasks() if not task.is_email_log]
    after_first = _outcomes(crm)
    done = tasks[0]
    crm.complete_task(done)

    second = run_sync(crm.sandbox.settings, dry_run=False)
    after_second = _outcomes(crm)

    assert first.summary.tasks_created == len(tasks) > 1
    assert after_first == {
        t.key: (t.account_id, t.owner_id, AS_OF, False, None) for t in tasks
    }  # every task created, no email log among them, all open
    assert second.summary.tasks_created == 0
    assert after_second == {
        **after_first,
        done.key: (done.account_id, done.owner_id, AS_OF, True, AS_OF),
    }


@pytest.mark.parametrize("bulk", [False, True], ids=["rest", "bulk"])
def test_a_created_task_is_recorded_with_its_crm_id_so_an_unchanged_rerun_writes_none(
    crm: SandboxCrm, bulk: bool
) -> None:
    """The id comes from the create's own answer (a Bulk 2.0 job's results on Salesforce,
    the batch create's on HubSpot), not from the next run's read: that read used to
    rewrite every task the day before had created (196,222 rows at 100,000 accounts)."""
    if bulk and crm.name != "salesforce":
        pytest.skip("Bulk API 2.0 is Salesforce's")
    settings = crm.sandbox.settings.model_copy(update={"salesforce_bulk_write_above": 0})
    first = run_sync(settings if bulk else crm.sandbox.settings, dry_run=False)
    tasks = {t.key: t.id for t in crm.tasks() if not t.is_email_log}

    rerun = run_sync(crm.sandbox.settings, dry_run=False)

    assert first.summary.task_outcomes_saved == len(tasks) > 1
    assert _record_ids(crm) == tasks
    assert rerun.summary.task_outcomes_saved == 0


def _record_ids(crm: SandboxCrm) -> dict[str, str]:
    store = HistoryStore.open(crm.sandbox.settings.state_database_url.get_secret_value())
    try:
        return dict(store.task_outcomes().select("key", "record_id").iter_rows())
    finally:
        store.close()


def test_a_task_of_a_rule_that_no_longer_fires_is_still_followed(
    crm: SandboxCrm, project: Path
) -> None:
    """RevOps removes the rule after its tasks were made: no firing asks for them any
    more, so only the store's open keys bring the completion back."""
    run_sync(crm.sandbox.settings, dry_run=False)
    done = next(task for task in crm.tasks() if not task.is_email_log)
    rule_id = done.key.split(":")[0]
    _remove_rule(project, rule_id)
    crm.complete_task(done)

    second = run_sync(crm.sandbox.settings, dry_run=False)

    assert rule_id not in {task.rule_id for task in second.plan.tasks}
    assert _outcomes(crm)[done.key] == (done.account_id, done.owner_id, AS_OF, True, AS_OF)


def test_a_task_deleted_in_the_crm_is_forgotten(sandbox: RunningSandbox, project: Path) -> None:
    """Neither done nor open: no longer counted, no longer asked about. (Salesforce only:
    the HubSpot emulator has no delete; its ledger forgets a deleted task the same way.)"""
    crm = sandbox_crm(sandbox)
    run_sync(sandbox.settings, dry_run=False)
    by_rule = Counter(t.key.split(":")[0] for t in crm.tasks() if not t.is_email_log)
    rule_id = by_rule.most_common(1)[0][0]
    gone, kept, *_ = (t for t in crm.tasks() if t.key.startswith(f"{rule_id}:"))
    _remove_rule(project, rule_id)  # or the next run would create it again
    cast(SFType, salesforce_client(sandbox).Task).delete(gone.id)

    run_sync(sandbox.settings, dry_run=False)

    outcomes = _outcomes(crm)
    assert gone.key not in outcomes
    assert outcomes[kept.key] == (kept.account_id, kept.owner_id, AS_OF, False, None)


def _remove_rule(project: Path, rule_id: str) -> None:
    """RevOps deletes the rule from the playbook."""
    rules = project / "playbooks" / "rules.yaml"
    book = yaml.safe_load(rules.read_text(encoding="utf-8"))
    book["rules"] = [rule for rule in book["rules"] if rule["id"] != rule_id]
    rules.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
