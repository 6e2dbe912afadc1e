"""What only Salesforce does: real simple-salesforce → sandbox org over HTTPS → assert on the
org itself. What every CRM does is in test_crm_contract.py."""

from __future__ import annotations

from typer.testing import CliRunner

from connector.cli import EXIT_FAILED, EXIT_PARTIAL, app
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import CUSTOMERS, cli_env
from tests.e2e.test_crm_contract import EMAILS, RULE_TASKS, RULE_TASKS_WANTED
from tests.lines import line_of

UPSERTS = "composite/sobjects/Task/CS_Action_Key__c"


def _customers(sandbox: RunningSandbox) -> list[dict[str, object]]:
    return [a for a in sandbox.org.records("Account") if a["Type"] == "Customer"]


def test_transient_server_error_and_expired_session_are_recovered(sandbox: RunningSandbox) -> None:
    sandbox.org.inject_fault(
        "GET",
        r"/query",
        status=401,
        body=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )
    sandbox.org.inject_fault(
        "PATCH",
        r"composite/sobjects$",
        status=503,
        body=[{"message": "Server Unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
    )
    outcome = run_sync(sandbox.settings, dry_run=False)
    assert outcome.summary.failures == []
    assert [c.status for c in sandbox.org.calls if c.status >= 400] == [401, 503]
    customers = _customers(sandbox)
    assert len(customers) == CUSTOMERS
    assert all(a["CS_Health_Score__c"] is not None for a in customers)


def test_a_dropped_upsert_is_retried_in_the_same_run_without_a_duplicate(
    sandbox: RunningSandbox,
) -> None:
    """An upsert on the External ID is safe to repeat: no outcome is left unknown (HubSpot
    reconciles instead, see test_hubspot_sync.py)."""
    sandbox.org.inject_fault("PATCH", UPSERTS + "$", drop_after_commit=True)
    outcome = run_sync(sandbox.settings, dry_run=False)

    tasks = [t for t in sandbox.org.records("Task") if t.get("CS_Action_Key__c")]
    keys = [t["CS_Action_Key__c"] for t in tasks if t.get("Type") != "Email"]
    assert len(keys) == len(set(keys)) == len(outcome.plan.tasks) == RULE_TASKS
    assert outcome.summary.emails_sent == EMAILS
    # the dropped upsert and its retry; then a call per email (its log, with the completion
    # of the email before it) and one to complete the last
    assert sandbox.org.count_calls("PATCH", UPSERTS) == 2 + EMAILS + 1
    assert outcome.summary.failures == []


def test_a_crm_answering_503_after_retries_is_a_sentence_not_a_traceback(
    sandbox: RunningSandbox,
) -> None:
    sandbox.org.inject_fault("GET", r"/query$", status=503, times=10)
    one_query_at_a_time = {**cli_env(sandbox), "CRM_CONCURRENCY": "1"}  # all 10 for the first
    result = CliRunner().invoke(app, ["run", "--once"], env=one_query_at_a_time)
    assert result.exit_code == EXIT_FAILED, result.output
    assert "SERVER_UNAVAILABLE" in result.output
    assert "Traceback" not in result.output
    assert sandbox.org.count_calls("GET", "/query") == 4  # RetryPolicy.max_attempts


def test_an_action_that_fails_on_some_accounts_is_skipped_there_and_the_run_exits_4(
    sandbox: RunningSandbox,
) -> None:
    """Valid config, data it did not expect: those accounts' tasks are left out and printed
    with the template's line, every other write happens, and the exit code says 'look'."""
    rules = sandbox.settings.playbooks_dir / "rules.yaml"
    old = '{{ scouts_sent | number }} scouts this week"'
    rules.write_text(rules.read_text().replace(old, '{{ 1000 // scouts_sent }} per scout"', 1))

    unlimited = {**cli_env(sandbox), "TASKS_PER_OWNER_PER_DAY": "0"}  # every other task: all
    result = CliRunner().invoke(app, ["run"], env=unlimited)

    assert result.exit_code == EXIT_PARTIAL, result.output
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped rule")]
    where = f"{rules}:{line_of(rules, '1000 // scouts_sent')}"
    # the two low-scouting accounts that sent no scout at all this week (025 is silent)
    assert skipped == [
        f"skipped rule 'low-scouting' for {name} — {where}: not done for this account (the "
        "other actions were): the template fails: ZeroDivisionError: float floor division by "
        "zero."
        for name in ("Vertex Robotics 017", "Sakura Staffing 025")
    ]
    assert f"wrote {CUSTOMERS} records, created {RULE_TASKS_WANTED - 2} tasks;" in result.output
