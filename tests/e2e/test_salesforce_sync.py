"""The whole job: real simple-salesforce → sandbox org over HTTPS → assert on the org itself."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import (
    EXIT_API_BUDGET,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_PARTIAL,
    app,
)
from connector.errors import ConfigError
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, cli_env, salesforce_client
from tests.lines import line_of

# A playbook whose results can be computed by hand from the usage rows: the score is the
# latest week's scouts_sent (0–100), and the rule fires when it is below 20.
SIMPLE_PLAYBOOK = """
health:
  groups:
    adoption: {label: Adoption}
  measures:
    - id: scouting
      group: adoption
      label: Scouts sent
      expr: scouts_sent
      scale: {worst: 0, best: 100}
  colors:
    - {color: Green, min: 70}
    - {color: Red, min: 0}
rules:
  - id: low-scouting
    description: few scouts
    when: scouts_sent < 20
    period: run_week
    actions:
      - create_task:
          subject: "Low scouting at {{ name }}: {{ scouts_sent | number }}"
          description: "Only {{ scouts_sent | number }} scouts in the week of {{ usage_week }}."
          due_in_days: 3
          priority: High
"""


def _use_simple_playbook(project: Path) -> None:
    """Only the simple playbook, and a mapping that writes only its score and colour."""
    for path in (project / "playbooks").glob("*.yaml"):
        path.unlink()
    (project / "playbooks" / "book.yaml").write_text(SIMPLE_PLAYBOOK)
    mapping = project / "mappings" / "salesforce.yaml"
    text = mapping.read_text()
    results_start = text.index("results:")
    results_end = text.index("\ntasks:")
    mapping.write_text(
        text[:results_start]
        + "results:\n  health_score: CS_Health_Score__c\n  health_color: CS_Health_Color__c\n"
        + text[results_end:]
    )


def _latest_scouts(sandbox: RunningSandbox) -> dict[str, float]:
    """Tenant → scouts_sent in the last week starting on or before the run date."""
    latest: dict[str, tuple[date, float]] = {}
    for row in sandbox.usage_rows:
        if row.week_start <= AS_OF and (
            row.account_key not in latest or row.week_start > latest[row.account_key][0]
        ):
            latest[row.account_key] = (row.week_start, float(row.metrics["scouts_sent"]))
    return {tenant: scouts for tenant, (_, scouts) in latest.items()}


def _customers(sandbox: RunningSandbox) -> list[dict[str, object]]:
    return [a for a in sandbox.org.records("Account") if a["Type"] == "Customer"]


def _keyed_tasks(sandbox: RunningSandbox) -> list[dict[str, object]]:
    return [t for t in sandbox.org.records("Task") if t.get("CS_Action_Key__c")]


def test_first_run_writes_exact_scores_and_tasks(sandbox: RunningSandbox, project: Path) -> None:
    _use_simple_playbook(project)
    outcome = run_sync(sandbox.settings, dry_run=False)

    scouts = _latest_scouts(sandbox)
    customers = _customers(sandbox)
    for account in customers:
        expected = min(scouts[str(account["Product_Tenant_Id__c"])], 100.0)
        assert account["CS_Health_Score__c"] == expected, account["Name"]
        assert account["CS_Health_Color__c"] == ("Green" if expected >= 70 else "Red")
    low = {a["Id"]: a for a in customers if scouts[str(a["Product_Tenant_Id__c"])] < 20}
    tasks = _keyed_tasks(sandbox)
    assert low, "the demo company must have low-scouting accounts"
    assert sorted(t["WhatId"] for t in tasks) == sorted(low)
    for task in tasks:
        account = low[str(task["WhatId"])]
        assert task["OwnerId"] == account["OwnerId"]
        assert task["Subject"] == (
            f"Low scouting at {account['Name']}: "
            f"{scouts[str(account['Product_Tenant_Id__c'])]:,.0f}"
        )
        assert task["ActivityDate"] == (AS_OF + timedelta(days=3)).isoformat()
        assert (task["Priority"], task["Status"]) == ("High", "Not Started")
    assert outcome.summary.tasks_created == len(low)
    assert outcome.summary.records_written == len(customers)
    assert outcome.summary.failures == []


def test_second_run_writes_nothing(sandbox: RunningSandbox) -> None:
    first = run_sync(sandbox.settings, dry_run=False)
    assert first.summary.records_written > 0
    assert first.summary.tasks_created > 0
    tasks_before = len(sandbox.org.records("Task"))
    sandbox.org.reset_calls()

    second = run_sync(sandbox.settings, dry_run=False)

    assert second.plan.is_empty
    assert (second.summary.records_written, second.summary.tasks_created) == (0, 0)
    assert sandbox.org.count_calls("PATCH", "composite/sobjects") == 0
    assert sandbox.org.count_calls("PATCH", "composite/sobjects/Task/CS_Action_Key__c") == 0
    assert len(sandbox.org.records("Task")) == tasks_before
    assert len(second.plan.suppressed) == first.summary.tasks_created + first.summary.emails_sent


def test_dry_run_plans_but_writes_nothing(sandbox: RunningSandbox) -> None:
    before = sandbox.org.records("Account")
    outcome = run_sync(sandbox.settings, dry_run=True)
    assert outcome.plan.updates
    assert outcome.plan.tasks
    assert sandbox.org.records("Account") == before
    assert _keyed_tasks(sandbox) == []
    assert sandbox.org.count_calls("PATCH", "composite/sobjects") == 0


def test_rejected_record_is_reported_and_the_rest_are_written(sandbox: RunningSandbox) -> None:
    locked = _customers(sandbox)[5]
    sandbox.org.add_validation_rule(
        "Account",
        "Legal_Hold",
        lambda record: record["Id"] == locked["Id"],
        "This account is on legal hold and cannot be edited.",
    )

    outcome = run_sync(sandbox.settings, dry_run=False)

    (failure,) = outcome.summary.failures
    assert (failure.record, failure.code) == (locked["Id"], "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert "legal hold" in failure.message
    scored = [a for a in _customers(sandbox) if a["CS_Health_Score__c"] is not None]
    assert len(scored) == len(_customers(sandbox)) - 1


def test_dropped_upsert_response_is_retried_without_a_duplicate(sandbox: RunningSandbox) -> None:
    sandbox.org.inject_fault(
        "PATCH", r"composite/sobjects/Task/CS_Action_Key__c$", drop_after_commit=True
    )
    outcome = run_sync(sandbox.settings, dry_run=False)

    keys = [t["CS_Action_Key__c"] for t in _keyed_tasks(sandbox) if t.get("Type") != "Email"]
    assert len(keys) == len(set(keys)) == len(outcome.plan.tasks) > 0
    email_log_calls = 2 if outcome.summary.emails_sent else 0  # logged, then completed
    assert sandbox.org.count_calls("PATCH", "composite/sobjects/Task/CS_Action_Key__c") == (
        2 + email_log_calls
    )  # the dropped upsert and its retry
    assert outcome.summary.failures == []


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
    assert all(a["CS_Health_Score__c"] is not None for a in _customers(sandbox))


def test_unknown_mapped_field_fails_with_file_line_before_any_write(
    sandbox: RunningSandbox, project: Path
) -> None:
    mapping = project / "mappings" / "salesforce.yaml"
    mapping.write_text(mapping.read_text().replace("industry: Industry", "industry: Industri"))
    with pytest.raises(ConfigError) as raised:
        run_sync(sandbox.settings, dry_run=False)
    line = line_of(mapping, "Industri")
    assert f"{mapping}:{line}: Account has no field 'Industri'. Did you mean 'Industry'?" in str(
        raised.value
    )
    assert sandbox.org.count_calls("PATCH", "composite/sobjects") == 0
    assert sandbox.org.count_calls("GET", "/query") == 0


def test_cli_bad_rule_column_exits_non_zero_and_writes_nothing(
    sandbox: RunningSandbox, project: Path
) -> None:
    rules = project / "playbooks" / "rules.yaml"
    rules.write_text(rules.read_text().replace("when: scouts_sent < 20", "when: scout_sent < 20"))
    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(sandbox))
    assert result.exit_code == EXIT_CONFIG
    assert re.search(r"rules\.yaml:\d+: unknown column 'scout_sent'", result.output)
    assert sandbox.org.calls == []


def test_cli_dry_run_prints_the_plan_and_never_the_secret(sandbox: RunningSandbox) -> None:
    result = CliRunner().invoke(app, ["run", "--once", "--dry-run"], env=cli_env(sandbox))
    assert result.exit_code == 0, result.output
    assert "Plan" in result.output
    assert "dry run, nothing written" in result.output
    assert "demo-secret" not in result.output
    assert _keyed_tasks(sandbox) == []


def test_writes_are_batched_at_the_collection_limit(tmp_path: Path, project: Path) -> None:
    """450 changed accounts → 3 update calls; 201 new tasks → 2 upsert calls."""
    (project / "playbooks" / "rules.yaml").write_text(
        "rules:\n"
        "  - id: every-account\n"
        "    description: fires for the first 201 accounts by tenant\n"
        "    when: CAST(SUBSTR(tenant_id, 5) AS INTEGER) <= 201\n"
        "    actions:\n"
        "      - create_task: {subject: 'Check {{ name }}'}\n"
    )
    with running_sandbox(tmp_path / "big", as_of=AS_OF, customers=450, project_dir=project) as big:
        outcome = run_sync(big.settings, dry_run=False)
        assert (outcome.summary.records_written, outcome.summary.tasks_created) == (450, 201)
        assert big.org.count_calls("PATCH", "composite/sobjects") == 3
        assert big.org.count_calls("PATCH", "composite/sobjects/Task/CS_Action_Key__c") == 2
        assert [c.records for c in big.org.calls if c.method == "PATCH"] == [200, 200, 50, 200, 1]


def test_runs_and_daily_snapshots_are_recorded(sandbox: RunningSandbox) -> None:
    run_sync(sandbox.settings, dry_run=True)
    real = run_sync(sandbox.settings, dry_run=False)

    store = HistoryStore.open(sandbox.settings.state_database_url.get_secret_value())
    try:
        runs = store.runs()
        history = store.snapshots(since=AS_OF, until=AS_OF + timedelta(days=1))
    finally:
        store.close()
    assert [(r["dry_run"], r["status"]) for r in runs] == [(True, "ok"), (False, "ok")]
    assert runs[1]["summary"]["tasks_created"] == real.summary.tasks_created
    assert history.height == len(_customers(sandbox)) == real.summary.snapshots_saved
    assert {"scouts_sent", "health_adoption", "score_seat_utilisation"} <= set(history.columns)


def test_trend_comes_from_the_history_store_and_stage_dates_from_the_crm(
    sandbox: RunningSandbox,
) -> None:
    run_sync(sandbox.settings, dry_run=False)
    first = {a["Id"]: a for a in _customers(sandbox)}
    assert all(a["CS_Health_Trend__c"] is None for a in first.values())  # no history yet

    a_month_later = sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(30)})
    run_sync(a_month_later, dry_run=False)

    for account in _customers(sandbox):
        before = first[account["Id"]]
        if before["CS_Health_Score__c"] is None:
            continue
        # the same usage a month later: the score is unchanged, so the trend is exactly 0
        assert account["CS_Health_Score__c"] == before["CS_Health_Score__c"]
        assert account["CS_Health_Trend__c"] == 0.0
        moved = account["CS_Journey_Stage__c"] != before["CS_Journey_Stage__c"]
        entered = AS_OF + timedelta(30) if moved else AS_OF
        assert account["CS_Journey_Stage_Since__c"] == entered.isoformat()


def test_a_task_completed_in_salesforce_starts_the_cooldown(
    sandbox: RunningSandbox, project: Path
) -> None:
    """The CSM closes the task in Salesforce; next week the rule fires again but waits."""
    _use_simple_playbook(project)
    book = project / "playbooks" / "book.yaml"
    book.write_text(
        book.read_text().replace("period: run_week", "period: run_week\n    cooldown_days: 14")
    )
    run_sync(sandbox.settings, dry_run=False)
    (task, *others) = sorted(_keyed_tasks(sandbox), key=lambda t: str(t["Id"]))
    sf = salesforce_client(sandbox)
    sf.Task.update(task["Id"], {"Status": "Completed"})

    next_week = sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(7)})
    outcome = run_sync(next_week, dry_run=False)

    reasons = {s.key.rsplit(":", 2)[1]: s.reason for s in outcome.plan.suppressed}
    assert reasons[str(task["WhatId"])].startswith("cooling down until ")
    assert all(
        reasons[str(t["WhatId"])] == "an earlier task of this rule is still open" for t in others
    )
    assert outcome.summary.tasks_created == 0


def test_a_rule_may_only_set_text_fields(sandbox: RunningSandbox, project: Path) -> None:
    mapping = project / "mappings" / "salesforce.yaml"
    mapping.write_text(
        mapping.read_text().replace(
            "renewal_status: CS_Renewal_Status__c", "renewal_status: CS_Health_Score__c"
        )
    )
    with pytest.raises(ConfigError) as raised:
        run_sync(sandbox.settings, dry_run=False)
    rules = project / "playbooks" / "rules.yaml"
    line = line_of(rules, "id: renewal-90-days")
    assert f"{rules}:{line}: rule 'renewal-90-days' cannot set 'renewal_status': " in str(
        raised.value
    )
    assert "CS_Health_Score__c" in str(raised.value)
    assert sandbox.org.count_calls("PATCH", "composite/sobjects") == 0


def test_same_input_gives_the_same_plan(tmp_path: Path, project: Path) -> None:
    plans = []
    for name in ("one", "two"):
        with running_sandbox(
            tmp_path / name, as_of=AS_OF, customers=60, project_dir=project
        ) as fresh:
            plans.append(run_sync(fresh.settings, dry_run=True).plan)
    first, second = plans
    assert first.tasks == second.tasks
    assert first.updates == second.updates
    # the digest links differ only by the sandbox's port; keys and texts are the same
    assert [(m.key, m.text) for m in first.slack] == [(m.key, m.text) for m in second.slack]


def test_a_second_replica_exits_locked_and_writes_nothing(sandbox: RunningSandbox) -> None:
    store = HistoryStore.open(sandbox.settings.state_database_url.get_secret_value())
    try:
        with store.run_lock("other-replica", stale_after=timedelta(hours=1)):
            locked = CliRunner().invoke(app, ["run", "--once"], env=cli_env(sandbox))
            preview = CliRunner().invoke(app, ["run", "--once", "--dry-run"], env=cli_env(sandbox))
    finally:
        store.close()
    assert locked.exit_code == EXIT_LOCKED
    assert "held by run other-replica" in locked.output
    assert preview.exit_code == 0, preview.output  # a dry run writes nothing: no lock needed
    assert sandbox.org.count_calls("PATCH", "composite/sobjects") == 0
    assert _keyed_tasks(sandbox) == []


def test_exhausted_api_budget_stops_the_run_with_its_own_exit_code(
    sandbox: RunningSandbox,
) -> None:
    sandbox.org.inject_fault(
        "GET",
        r"/query$",
        status=403,
        body=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(sandbox))
    assert result.exit_code == EXIT_API_BUDGET, result.output
    assert "daily API budget is used up" in result.output
    assert "Traceback" not in result.output
    assert sandbox.org.count_calls("PATCH", "composite/sobjects") == 0


def test_unreachable_crm_after_retries_is_a_sentence_not_a_traceback(
    sandbox: RunningSandbox,
) -> None:
    sandbox.org.inject_fault("GET", r"/query$", status=503, times=10)
    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(sandbox))
    assert result.exit_code == EXIT_FAILED, result.output
    assert "SERVER_UNAVAILABLE" in result.output
    assert "Traceback" not in result.output


def test_json_logs_carry_the_run_id_and_no_secrets_or_customer_names(
    sandbox: RunningSandbox,
) -> None:
    locked = _customers(sandbox)[3]
    sandbox.org.add_validation_rule(
        "Account", "Legal_Hold", lambda record: record["Id"] == locked["Id"], "On hold."
    )
    result = CliRunner().invoke(
        app, ["run", "--once"], env={**cli_env(sandbox), "LOG_FORMAT": "json"}
    )
    assert result.exit_code == EXIT_PARTIAL
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    events = [e for e in events if e["logger"].startswith("connector.")]  # not the sandbox's
    names = [e["event"] for e in events]
    assert names[0] == "run_started"
    assert {"planned", "record_rejected", "run_finished"} <= set(names)
    assert len({e["run_id"] for e in events}) == 1
    rejected = next(e for e in events if e["event"] == "record_rejected")
    assert (rejected["record"], rejected["code"]) == (
        locked["Id"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    )
    assert str(locked["Name"]) not in result.stderr
    assert "demo-secret" not in result.stderr
