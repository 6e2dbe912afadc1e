"""What a run says it did is what the CRM holds, however the run ends: the summary JSON is
written on every exit with what was committed so far, a stopped run logs `run_failed` with
fields, and every call is counted when it is sent (also one whose answer never came)."""

from __future__ import annotations

import gc
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_FAILED, EXIT_LOCKED, app
from connector.errors import CrmError
from connector.run import new_summary, run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.settings import CrmName
from connector.store import HistoryStore
from tests.e2e.conftest import (
    AS_OF,
    CRMS,
    OUTAGE_CALLS,
    SandboxCrm,
    cli_env,
    sandbox_crm,
    without_email,
)

COMMITTED = 1_000  # updates the CRM takes before the outage: 5 batches of 200 on Salesforce,
# 10 of 100 on HubSpot
UPSERTS = "composite/sobjects/Task/CS_Action_Key__c"
COMPANY = 1_050  # customers, so that the first run has more updates than that to write


def _events(stderr: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [e for e in lines if e["logger"].startswith("connector.")]


def test_a_run_stopped_by_an_outage_after_1000_updates_says_1000_written(
    tmp_path: Path, project: Path, crm_name: CrmName
) -> None:
    with running_sandbox(
        tmp_path / "big", crm=crm_name, as_of=AS_OF, customers=COMPANY, project_dir=project
    ) as big:
        crm = sandbox_crm(big)
        crm.fail_updates_after(COMMITTED // CRMS[crm_name].max_write_batch)
        summary_json = tmp_path / "summary.json"

        result = CliRunner().invoke(
            app,
            ["run", "--once", "--summary-json", str(summary_json)],
            # one batch at a time: the outage lets the first 10 batches to arrive through,
            # and with several in flight those need not be the first 10 sent (a short one
            # may overtake), so the count would still be true but not always 1,000
            env={**cli_env(big), "LOG_FORMAT": "json", "CRM_CONCURRENCY": "1"},
        )

        assert result.exit_code == EXIT_FAILED, result.output
        summary = json.loads(summary_json.read_text())
        assert (summary["records_written"], summary["tasks_created"]) == (COMMITTED, 0)
        assert (summary["status"], summary["phase"], summary["exit_code"]) == (
            "failed",
            "write",
            EXIT_FAILED,
        )
        assert summary["error_class"] == "CrmError"
        assert summary["error"] in result.output  # the sentence the user was told
        scored = [a for a in crm.customers() if a.results["health_score"] is not None]
        assert len(scored) == COMMITTED  # what the CRM really holds
        (failed,) = [e for e in _events(result.stderr) if e["event"] == "run_failed"]
        assert {k: failed[k] for k in ("exit_code", "phase", "records_written")} == {
            "exit_code": EXIT_FAILED,
            "phase": "write",
            "records_written": COMMITTED,
        }
        assert failed["error_class"] == "CrmError"
        assert failed["crm_api_calls"] == summary["crm_api"]["calls"]
        assert f"{COMMITTED} records updated" in result.stderr
        store = HistoryStore.open(big.settings.state_database_url.get_secret_value())
        try:
            (record,) = store.runs()
        finally:
            store.close()
        assert (record["status"], record["summary"]["records_written"]) == ("failed", COMMITTED)


def test_a_locked_run_leaves_a_summary_saying_so(crm: SandboxCrm, tmp_path: Path) -> None:
    summary_json = tmp_path / "summary.json"
    store = HistoryStore.open(crm.sandbox.settings.state_database_url.get_secret_value())
    try:
        with store.run_lock("other-replica", stale_after=timedelta(hours=1)):
            result = CliRunner().invoke(
                app,
                ["run", "--once", "--summary-json", str(summary_json)],
                env=cli_env(crm.sandbox),
            )
    finally:
        store.close()

    assert result.exit_code == EXIT_LOCKED, result.output
    summary = json.loads(summary_json.read_text())
    assert (summary["status"], summary["exit_code"], summary["records_written"]) == (
        "locked",
        EXIT_LOCKED,
        0,
    )
    assert summary["error_class"] == "RunLocked"
    assert crm.write_calls() == 0


def test_a_successful_run_says_exit_0_in_its_summary(crm: SandboxCrm, tmp_path: Path) -> None:
    summary_json = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app, ["run", "--once", "--summary-json", str(summary_json)], env=cli_env(crm.sandbox)
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(summary_json.read_text())
    assert (summary["status"], summary["phase"], summary["exit_code"], summary["error"]) == (
        "ok",
        "done",
        0,
        None,
    )


def test_a_call_whose_answer_was_lost_is_counted(crm: SandboxCrm) -> None:
    crm.drop_update_answer()
    crm.reset_calls()

    outcome = run_sync(without_email(crm.sandbox.settings), dry_run=False)

    assert outcome.summary.crm_api.calls == crm.calls()  # the dropped call and its retry


def test_a_run_leaves_the_cycle_collector_as_it_found_it(sandbox: RunningSandbox) -> None:
    """A run has the collector skip what was loaded before it (`gc.freeze`), and hands it
    back, raising or not: a process that runs again (`serve`) collects it as before."""
    frozen: list[int] = []

    class FreezeAtEachEvent(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            frozen.append(gc.get_freeze_count())

    handler, logger = FreezeAtEachEvent(), logging.getLogger("connector.run")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        run_sync(without_email(sandbox.settings), dry_run=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    assert frozen
    assert min(frozen) > 10_000  # the modules' objects, at least
    assert gc.get_freeze_count() == 0


def test_a_run_stopped_between_emails_says_which_were_sent(sandbox: RunningSandbox) -> None:
    """On Salesforce the tasks are one upsert and each email one more (its log, with the
    completion of the one before): the CRM goes down as the third email is logged."""
    sandbox.org.inject_fault("PATCH", UPSERTS + "$", status=503, after=1 + 2, times=OUTAGE_CALLS)
    summary = new_summary(sandbox.settings, dry_run=False)

    with pytest.raises(CrmError):
        run_sync(sandbox.settings, dry_run=False, summary=summary)

    assert (summary.emails_sent, summary.phase, summary.status) == (2, "write", "failed")
    assert len(sandbox.smtp.messages) == 2
