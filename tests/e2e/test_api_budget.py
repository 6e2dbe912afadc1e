"""The API budget guard: a run stops before a phase that would take the org past
`API_BUDGET_SHARE` of its daily calls, exits 6 with the numbers, and the next run with room
finishes the work — the same CRM as one unconstrained run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_API_BUDGET, app
from connector.errors import ApiBudgetShareReached
from connector.run import run_sync
from connector.sandbox.demo import HUBSPOT_TOKEN, RunningSandbox, running_sandbox
from connector.settings import CrmName
from connector.store import HistoryStore, RunRecord
from tests.e2e.conftest import (
    AS_OF,
    CUSTOMERS,
    SandboxCrm,
    cli_env,
    sandbox_crm,
    without_email,
)


def test_a_run_over_its_share_stops_before_reading_and_exits_6(crm: SandboxCrm) -> None:
    env = {**cli_env(crm.sandbox), "API_BUDGET_SHARE": "0.00001"}  # 0 of 15,000, 2 of 250,000

    result = CliRunner().invoke(app, ["run", "--once"], env=env)

    assert result.exit_code == EXIT_API_BUDGET, result.output
    output = " ".join(result.output.split())
    assert "Stopped before the reads" in output
    assert "API_BUDGET_SHARE=1e-05" in output
    assert "Traceback" not in output
    assert crm.read_calls() == 0
    assert crm.write_calls() == 0
    assert crm.budget_refusals() == 0  # stopped before the CRM had to refuse


def test_a_run_stopped_before_reading_carries_the_last_reads_estimate(crm: SandboxCrm) -> None:
    """The estimate is the last run's reads: a run that read nothing must not make the next
    one expect a page a query."""
    settings = crm.sandbox.settings
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    try:
        yesterday = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
        store.run_started(RunRecord("yesterday", yesterday, AS_OF, dry_run=False))
        store.run_finished("yesterday", "ok", yesterday, {"crm_read_calls": 57})

        with pytest.raises(ApiBudgetShareReached, match="about 57 API calls"):
            run_sync(settings.model_copy(update={"api_budget_share": 0.00001}), dry_run=False)

        last = store.last_summary()
    finally:
        store.close()
    assert last is not None
    assert last["crm_read_calls"] == 57
    assert crm.read_calls() == 0


def test_a_run_stopped_before_its_writes_is_finished_by_the_next(
    tmp_path: Path, project: Path, crm_name: CrmName
) -> None:
    with _sandbox(tmp_path / "unconstrained", project, crm_name) as free:
        run_sync(free.settings, dry_run=False)
        expected = _end_state(sandbox_crm(free))
    with _sandbox(tmp_path / "guarded", project, crm_name) as guarded:
        crm = sandbox_crm(guarded)
        settings = guarded.settings.model_copy(update={"api_budget_share": 1.0})
        run_sync(settings, dry_run=True)  # the first reads fill the mirror
        preview = run_sync(settings, dry_run=True).summary  # reads as the run will make them
        # room for the same reads and one call more: not for the writes, two batches at least
        _leave_remaining(guarded, preview.crm_api.calls + 1)
        crm.reset_calls()

        with pytest.raises(ApiBudgetShareReached, match="Stopped before the writes"):
            run_sync(settings, dry_run=False)
        assert crm.write_calls() == 0
        assert crm.budget_refusals() == 0
        assert crm.tasks() == []

        _leave_remaining(guarded, 10_000)  # the next day
        run_sync(settings, dry_run=False)
        assert _end_state(crm) == expected


def _sandbox(state: Path, project: Path, crm_name: CrmName) -> Any:
    return running_sandbox(
        state, crm=crm_name, as_of=AS_OF, customers=CUSTOMERS, project_dir=project
    )


def _leave_remaining(sandbox: RunningSandbox, calls: int) -> None:
    if sandbox.settings.crm == "hubspot":
        sandbox.portal.set_remaining_api_calls(HUBSPOT_TOKEN, calls)
    else:
        sandbox.org.set_remaining_api_calls(calls)


def _end_state(crm: SandboxCrm) -> tuple[list[Any], list[Any]]:
    """Every customer's written results, and every keyed task but its record id."""
    accounts = sorted((a.id, sorted(a.results.items())) for a in crm.customers())
    tasks = sorted(
        (t.key, t.account_id, t.owner_id, t.subject, t.due, t.status, t.priority, t.is_email_log)
        for t in crm.tasks()
    )
    return accounts, tasks


def test_emails_that_will_not_be_sent_cost_the_writes_nothing(
    tmp_path: Path, project: Path, crm_name: CrmName
) -> None:
    """Without an SMTP relay the plan's emails are not sent: room for the reads and the
    writes themselves is enough, where two calls an email would have stopped the run."""
    with _sandbox(tmp_path / "unconstrained", project, crm_name) as free:
        settings = without_email(free.settings)
        free_crm = sandbox_crm(free)
        outcome = run_sync(settings, dry_run=False)
        writes = free_crm.write_calls()
        expected = _end_state(free_crm)
    planned_emails = len(outcome.plan.emails)
    assert outcome.summary.emails_not_configured == planned_emails >= 8
    with _sandbox(tmp_path / "guarded", project, crm_name) as guarded:
        crm = sandbox_crm(guarded)
        settings = without_email(guarded.settings).model_copy(update={"api_budget_share": 1.0})
        run_sync(settings, dry_run=True)  # the first reads fill the mirror
        preview = run_sync(settings, dry_run=True).summary  # reads as the run will make them
        slack = 8  # fewer than the 2 calls an email the estimate counted before
        assert slack < 2 * planned_emails
        _leave_remaining(guarded, preview.crm_api.calls + writes + slack)
        crm.reset_calls()

        run_sync(settings, dry_run=False)

        assert crm.budget_refusals() == 0
        assert crm.write_calls() == writes
        assert _end_state(crm) == expected
