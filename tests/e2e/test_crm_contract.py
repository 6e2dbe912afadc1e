"""What a sync does on any CRM, written once and run on the Salesforce org and on the HubSpot
portal (as dlt's `destinations_configs` and Meltano's test factory run one suite over every
destination and tap).

A test here takes `crm` (or `crm_name`, to start its own sandbox) and reads the same for both:
`SandboxCrm` in conftest.py is how it looks into either sandbox, and holds what differs (the
batch maximum, status words, error sentences) as data. What only one platform does is in
test_salesforce_sync.py and test_hubspot_sync.py.
"""

from __future__ import annotations

import json
import re
import socket
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import timedelta
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
from connector.crm.protocol import FieldUpdate
from connector.errors import ConfigError
from connector.plan.model import TaskVolume
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.settings import CrmName
from connector.store import HistoryStore
from tests.e2e.conftest import (
    AS_OF,
    CRMS,
    CUSTOMERS,
    SandboxCrm,
    cli_env,
    sandbox_crm,
    shipped_mapping,
    without_daily_limit,
    without_email,
)
from tests.lines import line_of

# What the shipped playbooks make of the demo company (60 customers, as of 2026-11-23); the
# same on both CRMs (test_hubspot_sync.py checks that the scores and tasks are identical).
RULE_TASKS_WANTED = 117  # tasks the rules want on the first run (106 before 2 tenants went
# silent; 104 once their licensed seats are carried as a level: a silent tenant with seats is
# low-scouting; 117 since check-ins go on every quarter after the first year)
RULE_TASKS = 90  # tasks created on the first run: the daily limit, 15 (TASKS_PER_OWNER_PER_DAY's
# default), for each of the 6 CSMs, who all want more; the other 27 are deferred to the next day
DEFERRED = RULE_TASKS_WANTED - RULE_TASKS
EMAILS = 9  # customer emails sent on the first run, each logged as a completed task
EMAILS_NOT_SENT = 1  # the welcome to an opted-out contact: logged once, as not sent
RED = 21  # customers scored Red, all in the digest (20 until silent customer 050 went Red)

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
LOW_SCOUTING = 27  # demo customers with fewer than 20 scouts in their latest week


def _use_simple_playbook(project: Path, crm: CrmName, also_write: tuple[str, ...] = ()) -> None:
    """Only the simple playbook, and a mapping that writes only its score and colour (and
    the results `also_write` names), keeping the fields rules may set."""
    for path in (project / "playbooks").glob("*.yaml"):
        path.unlink()
    (project / "playbooks" / "book.yaml").write_text(SIMPLE_PLAYBOOK)
    results = shipped_mapping(crm)["results"]
    mapping = project / "mappings" / f"{crm}.yaml"
    text = mapping.read_text()
    results_start = text.index("results:")
    results_end = text.index("\nrule_fields:")
    written = ("health_score", "health_color", *also_write)
    mapping.write_text(
        text[:results_start]
        + "results:\n"
        + "".join(f"  {name}: {results[name]}\n" for name in written)
        + text[results_end:]
    )


def _latest_scouts(sandbox: RunningSandbox) -> dict[str, float]:
    """Tenant → scouts_sent in the week that contains the run date: a tenant without a row
    for it (a silent one) sent none."""
    this_week = AS_OF - timedelta(days=AS_OF.weekday())  # the demo's weeks start on Monday
    scouts: defaultdict[str, float] = defaultdict(float)
    for row in sandbox.usage_rows:
        if row.week_start == this_week:
            scouts[row.account_key] = float(row.metrics["scouts_sent"])
    return scouts


def _red_in_plan(crm: SandboxCrm, updates: Iterable[FieldUpdate]) -> set[str]:
    color = shipped_mapping(crm.name)["results"]["health_color"]
    return {u.record_id for u in updates if u.values().get(color) == "Red"}


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- a first run -------------------------------------------------------------------------------


def test_first_run_writes_the_exact_scores_and_tasks(crm: SandboxCrm, project: Path) -> None:
    _use_simple_playbook(project, crm.name)
    outcome = run_sync(crm.sandbox.settings, dry_run=False)

    scouts = _latest_scouts(crm.sandbox)
    customers = crm.customers()
    assert len(customers) == CUSTOMERS
    for account in customers:
        expected = min(scouts[account.tenant_id], 100.0)
        assert account.results["health_score"] == expected, account.name
        assert account.results["health_color"] == ("Green" if expected >= 70 else "Red")
    low = {a.id: a for a in customers if scouts[a.tenant_id] < 20}
    assert len(low) == LOW_SCOUTING
    tasks = crm.tasks()
    assert sorted(t.account_id for t in tasks) == sorted(low)
    for task in tasks:
        account = low[task.account_id]
        assert task.owner_id == account.owner_id
        assert task.subject == (f"Low scouting at {account.name}: {scouts[account.tenant_id]:,.0f}")
        assert task.due == AS_OF + timedelta(days=3)
        assert (task.priority, task.status) == (crm.high_priority, crm.task_not_started)
    assert outcome.summary.tasks_created == len(low)
    assert outcome.summary.records_written == len(customers)
    assert outcome.summary.failures == []


def test_every_planned_task_is_on_its_account_for_its_assignee_and_due_date(
    crm: SandboxCrm,
) -> None:
    outcome = run_sync(crm.sandbox.settings, dry_run=False)

    customers = {a.id: a for a in crm.customers()}
    tasks = crm.tasks()
    by_key = {t.key: t for t in tasks}
    assert len(by_key) == len(tasks) == RULE_TASKS + EMAILS + EMAILS_NOT_SENT
    assert len(outcome.plan.tasks) == RULE_TASKS
    for planned in outcome.plan.tasks:
        task = by_key[planned.key]
        assert task.account_id == planned.account_id
        assert task.owner_id == planned.assignee_id
        account = customers[task.account_id]
        assert task.owner_id in {account.owner_id, account.csm_id}  # csm_id: rules that say so
        assert task.due == planned.due_date
        assert task.status == crm.task_not_started


def test_runs_and_daily_snapshots_are_recorded(crm: SandboxCrm) -> None:
    run_sync(crm.sandbox.settings, dry_run=True)
    real = run_sync(crm.sandbox.settings, dry_run=False)

    store = HistoryStore.open(crm.sandbox.settings.state_database_url.get_secret_value())
    try:
        runs = store.runs()
        history = store.snapshots(since=AS_OF, until=AS_OF + timedelta(days=1))
    finally:
        store.close()
    assert [(r["dry_run"], r["status"]) for r in runs] == [(True, "ok"), (False, "ok")]
    assert runs[1]["summary"]["tasks_created"] == real.summary.tasks_created == RULE_TASKS
    assert history.height == len(crm.customers()) == real.summary.snapshots_saved == CUSTOMERS
    assert {"scouts_sent", "health_adoption", "score_seat_utilisation"} <= set(history.columns)


# -- the daily limit ---------------------------------------------------------------------------


def test_no_one_gets_more_than_the_daily_limit_and_the_rest_follow_the_next_day(
    crm: SandboxCrm,
) -> None:
    settings = without_email(crm.sandbox.settings)
    limit = settings.tasks_per_owner_per_day

    first = run_sync(settings, dry_run=False)

    per_person = Counter(task.owner_id for task in crm.tasks())
    assert set(per_person.values()) == {limit}  # six CSMs who all want more than 15
    assert sum(per_person.values()) == first.summary.tasks_created == RULE_TASKS
    assert len(first.plan.deferred) == first.summary.tasks_deferred == DEFERRED
    assert first.plan.volume == TaskVolume(
        limit=limit,
        wanted=RULE_TASKS_WANTED,
        today=RULE_TASKS,
        deferred=DEFERRED,
        people_at_limit=6,
        working_days=1,
        last_day=AS_OF + timedelta(days=1),
    )
    # the most urgent first: no one got a task today less urgent than one of theirs deferred
    rank = {"High": 0, "Normal": 1, "Low": 2}
    for person in per_person:
        today = [rank[t.priority] for t in first.plan.tasks if t.assignee_id == person]
        later = [rank[t.priority] for t in first.plan.deferred if t.assignee_id == person]
        assert max(today) <= min(later)
    assert {t.priority for t in first.plan.tasks} == {"High", "Normal"}

    # later the same day, the CRM says who had their tasks today: nothing more is created
    again = run_sync(settings, dry_run=False)
    assert (again.summary.tasks_created, len(again.plan.deferred)) == (0, DEFERRED)

    # the next working day, the deferred tasks are created (none lost, none twice)
    tomorrow = run_sync(
        settings.model_copy(update={"as_of_date": AS_OF + timedelta(days=1)}), dry_run=False
    )
    made = {t.key for t in tomorrow.plan.tasks}
    assert {t.key for t in first.plan.deferred} <= made
    assert max(Counter(t.assignee_id for t in tomorrow.plan.tasks).values()) <= limit
    assert tomorrow.plan.deferred == ()
    keys = Counter(t.key for t in crm.tasks())
    assert set(keys.values()) == {1}
    assert len(keys) == RULE_TASKS + len(made)


# -- runs that must change nothing -------------------------------------------------------------


def test_second_run_writes_nothing(crm: SandboxCrm) -> None:
    first = run_sync(crm.sandbox.settings, dry_run=False)
    assert (
        first.summary.records_written,
        first.summary.tasks_created,
        first.summary.emails_sent,
    ) == (CUSTOMERS, RULE_TASKS, EMAILS)
    tasks_before = crm.tasks()
    crm.reset_calls()

    second = run_sync(crm.sandbox.settings, dry_run=False)

    assert second.plan.is_empty
    assert (
        second.summary.records_written,
        second.summary.tasks_created,
        second.summary.emails_sent,
    ) == (0, 0, 0)
    assert crm.write_calls() == 0
    assert crm.tasks() == tasks_before
    assert len({t.key for t in tasks_before}) == len(tasks_before)
    logged = first.summary.emails_sent + EMAILS_NOT_SENT
    assert len(second.plan.suppressed) == first.summary.tasks_created + logged


NO_RENEWAL_STATUS = """
  - id: no-renewal-status
    description: no renewal in sight, so no renewal status
    when: days_until_renewal IS NULL OR days_until_renewal > 90
    actions:
      - set_fields: {renewal_status: ""}
"""


def test_empty_text_the_crm_keeps_as_no_value_is_not_rewritten_by_a_second_run(
    crm: SandboxCrm, project: Path
) -> None:
    """Salesforce stores '' as null; HubSpot clears a property written '' and returns "".
    Neither is a change next run: not a rule's empty value, and not the health reason of a
    tenant without usage (scored here on its seats, a level a silent tenant leaves
    unknown), which says so instead."""
    _use_simple_playbook(project, crm.name, also_write=("health_reason",))
    book = project / "playbooks" / "book.yaml"
    seats = book.read_text().replace("expr: scouts_sent", "expr: licensed_seats")
    book.write_text(seats + NO_RENEWAL_STATUS)
    silent = crm.customers()[0]
    crm.sandbox.usage.replace_rows(
        row for row in crm.sandbox.usage_rows if row.account_key != silent.tenant_id
    )
    settings = without_email(crm.sandbox.settings)
    run_sync(settings, dry_run=False)
    (reason,) = [a.results["health_reason"] for a in crm.customers() if a.id == silent.id]
    assert reason == "No usage data this week: health could not be scored."
    crm.reset_calls()

    second = run_sync(settings, dry_run=False)

    assert second.plan.updates == ()
    assert (second.summary.records_written, crm.write_calls()) == (0, 0)


def test_dry_run_plans_but_writes_nothing(crm: SandboxCrm) -> None:
    before = crm.account_records()
    outcome = run_sync(crm.sandbox.settings, dry_run=True)
    assert (len(outcome.plan.updates), len(outcome.plan.tasks)) == (CUSTOMERS, RULE_TASKS)
    assert len(outcome.plan.emails) == EMAILS
    assert crm.account_records() == before
    assert crm.tasks() == []
    assert crm.write_calls() == 0
    assert crm.sandbox.smtp.messages == []


def test_cli_dry_run_prints_the_plan_and_never_the_secret(crm: SandboxCrm) -> None:
    result = CliRunner().invoke(app, ["run", "--once", "--dry-run"], env=cli_env(crm.sandbox))
    assert result.exit_code == 0, result.output
    assert "Plan" in result.output
    assert "dry run, nothing written" in result.output
    assert crm.secret_fragment not in result.output
    assert crm.tasks() == []


def test_same_input_gives_the_same_plan(tmp_path: Path, project: Path, crm_name: CrmName) -> None:
    plans = []
    for name in ("one", "two"):
        with running_sandbox(
            tmp_path / name, crm=crm_name, as_of=AS_OF, customers=CUSTOMERS, project_dir=project
        ) as fresh:
            plans.append(run_sync(fresh.settings, dry_run=True).plan)
    first, second = plans
    assert len(first.tasks) == RULE_TASKS
    assert first.tasks == second.tasks
    assert first.updates == second.updates
    # the digest links differ only by the sandbox's port; keys and texts are the same
    assert [(m.key, m.text) for m in first.slack] == [(m.key, m.text) for m in second.slack]


def test_a_second_replica_exits_locked_and_writes_nothing(crm: SandboxCrm) -> None:
    env = cli_env(crm.sandbox)
    store = HistoryStore.open(crm.sandbox.settings.state_database_url.get_secret_value())
    try:
        with store.run_lock("other-replica", stale_after=timedelta(hours=1)):
            locked = CliRunner().invoke(app, ["run", "--once"], env=env)
            preview = CliRunner().invoke(app, ["run", "--once", "--dry-run"], env=env)
    finally:
        store.close()
    assert locked.exit_code == EXIT_LOCKED
    assert "held by run other-replica" in locked.output
    assert preview.exit_code == 0, preview.output  # a dry run writes nothing: no lock needed
    assert crm.write_calls() == 0
    assert crm.tasks() == []


# -- what later runs make of earlier ones ------------------------------------------------------


def test_trend_comes_from_the_history_store_and_stage_dates_from_the_crm(
    crm: SandboxCrm,
) -> None:
    run_sync(crm.sandbox.settings, dry_run=False)
    first = {a.id: a for a in crm.customers()}
    assert all(a.results["health_trend"] is None for a in first.values())  # no history yet
    assert all(a.results["health_score"] is not None for a in first.values())

    later = AS_OF + timedelta(30)
    crm.sandbox.usage.shift_weeks(30 // 7)  # a week without a row would be a silent week
    run_sync(crm.sandbox.settings.model_copy(update={"as_of_date": later}), dry_run=False)

    for account in crm.customers():
        before = first[account.id]
        # the same usage a month later: the score is unchanged, so the trend is exactly 0
        assert account.results["health_score"] == before.results["health_score"]
        assert account.results["health_trend"] == 0.0
        assert account.results["health_trend_baseline_date"] == AS_OF.isoformat()
        moved = account.results["journey_stage"] != before.results["journey_stage"]
        entered = later if moved else AS_OF
        assert account.results["journey_stage_since"] == entered.isoformat()


def test_a_model_edit_alone_moves_no_trend_and_raises_no_health_drop(
    crm: SandboxCrm, project: Path
) -> None:
    """RevOps doubles the Engagement weight between two runs a month apart; usage is the
    same. Scores move, but the baseline is re-scored with the edited model: every trend is
    0 and `health-drop` fires for no account."""
    first = run_sync(crm.sandbox.settings, dry_run=False)
    before = {a.id: a.results for a in crm.customers()}
    health = project / "playbooks" / "health.yaml"
    shipped = health.read_text()
    edited = shipped.replace(
        "ja: エンゲージメント}, weight: 1}", "ja: エンゲージメント}, weight: 2}"
    )
    assert edited != shipped
    health.write_text(edited)
    later = crm.sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(30)})
    crm.sandbox.usage.shift_weeks(30 // 7)

    second = run_sync(later, dry_run=False)

    after = {a.id: a.results for a in crm.customers()}
    moved = [i for i in after if after[i]["health_score"] != before[i]["health_score"]]
    assert len(moved) > CUSTOMERS // 2  # the edit changed most scores…
    assert all(a["health_trend"] == 0.0 for a in after.values())  # …and no trend
    assert {a["health_trend_baseline_date"] for a in after.values()} == {AS_OF.isoformat()}
    assert {r["health_model_version"] for r in after.values()} != {
        r["health_model_version"] for r in before.values()
    }
    assert [t for t in second.plan.tasks if t.rule_id == "health-drop"] == []
    assert second.summary.trends_model_changed == 0
    assert first.summary.tasks_created > 0


def test_a_baseline_too_far_from_the_window_gives_no_trend(crm: SandboxCrm) -> None:
    """The only snapshot is 37 days old: 7 days from the 30-day window, beyond its 3 days'
    tolerance. The CRM shows no trend and no baseline date, not a stale comparison."""
    run_sync(crm.sandbox.settings, dry_run=False)
    crm.sandbox.usage.shift_weeks(37 // 7)
    later = crm.sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(37)})

    outcome = run_sync(later, dry_run=False)

    customers = crm.customers()
    assert all(a.results["health_trend"] is None for a in customers)
    assert all(a.results["health_trend_baseline_date"] is None for a in customers)
    assert all(a.results["health_score"] is not None for a in customers)
    assert outcome.summary.trends_model_changed == 0


def _stages(crm: SandboxCrm) -> dict[str, tuple[str, str]]:
    return {
        a.id: (a.results["journey_stage"], a.results["journey_stage_since"])
        for a in crm.customers()
    }


def _kept_stages(crm: SandboxCrm) -> list[tuple[object, ...]]:
    store = HistoryStore.open(crm.sandbox.settings.state_database_url.get_secret_value())
    try:
        return store.stages().sort("account_id", "track").rows()
    finally:
        store.close()


def test_a_silent_week_moves_no_stage_back_and_a_dry_run_records_nothing(
    crm: SandboxCrm,
) -> None:
    """A week later every tenant is silent (no usage row for the run's week): recomputed
    from that week alone every account would be back in Onboarding with a new stage date.
    The stage history keeps each account where it was, since when it was."""
    run_sync(crm.sandbox.settings, dry_run=False)
    before, kept = _stages(crm), _kept_stages(crm)
    assert {stage for stage, _ in before.values()} >= {"Onboarding", "Adoption", "Value"}
    later = crm.sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(7)})

    preview = run_sync(later, dry_run=True)
    assert _kept_stages(crm) == kept  # a dry run writes no history
    run_sync(later, dry_run=False)

    assert _stages(crm) == before
    assert preview.summary.stage_changes == 0
    assert _kept_stages(crm) == kept


def test_a_stage_goes_back_only_when_its_regression_rule_has_held_for_14_days(
    crm: SandboxCrm,
) -> None:
    """Weekly runs while every tenant stays silent: four weeks on, `scouts_sent_sum_4w` is
    0 and the shipped rule (Value or Advocacy → Adoption, 14 days) starts to hold; two
    weeks later, and not before, those accounts are back in Adoption. (A whole book silent
    for weeks reads as a late feed, which the usage gate stops at: its ceiling is lifted.)"""
    run_sync(crm.sandbox.settings, dry_run=False)
    first = _stages(crm)
    valued = {i for i, (stage, _) in first.items() if stage in ("Value", "Advocacy")}
    assert valued
    seen = {}
    for weeks in range(1, 7):
        day = AS_OF + timedelta(weeks=weeks)
        update = {"as_of_date": day, "usage_max_accounts_without_usage_share": 1.0}
        run_sync(crm.sandbox.settings.model_copy(update=update), dry_run=False)
        seen[weeks] = _stages(crm)

    assert all(seen[5][i] == first[i] for i in valued)  # held for 7 days only (since week 4)
    back = AS_OF + timedelta(weeks=6)
    assert {i for i, (stage, _) in seen[6].items() if stage == "Adoption"} >= valued
    assert all(seen[6][i] == ("Adoption", back.isoformat()) for i in valued)
    assert all(seen[6][i] == first[i] for i in first if i not in valued)  # the rest stay


def test_a_renewal_closed_won_keeps_the_account_in_its_tier(crm: SandboxCrm) -> None:
    """The day after their renewals close won, High Touch accounts have no open renewal:
    ARR taken from the open renewal made them Tech Touch. Their ARR is the contract's, the
    won renewal's amount, and they stay High Touch."""
    run_sync(crm.sandbox.settings, dry_run=False)
    before = {a.id: a.results["touch_tier"] for a in crm.customers()}
    high = sorted(i for i, tier in before.items() if tier == "High Touch")
    assert len(high) > 3
    won = {i: crm.win_renewal(i, AS_OF) for i in high}
    assert min(won.values()) >= 60000  # High Touch starts at 60,000

    outcome = run_sync(
        crm.sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(1)}),
        dry_run=False,
    )

    assert {a.id: a.results["touch_tier"] for a in crm.customers()} == before
    assert outcome.summary.stage_changes == 0  # no tier and no stage moved
    renewals = {t.account_id for t in outcome.plan.tasks if t.rule_id == "renewal-90-days"}
    assert not renewals & set(high)  # nothing left to renew this year


def test_a_task_completed_in_the_crm_starts_the_cooldown(crm: SandboxCrm, project: Path) -> None:
    """The CSM completes a task in the CRM; next week the rule fires again but waits out its
    14 days, and accounts whose task is still open get no second one."""
    _use_simple_playbook(project, crm.name)
    book = project / "playbooks" / "book.yaml"
    book.write_text(
        book.read_text().replace("period: run_week", "period: run_week\n    cooldown_days: 14")
    )
    run_sync(crm.sandbox.settings, dry_run=False)
    done, *still_open = crm.tasks()
    assert len(still_open) == LOW_SCOUTING - 1
    crm.complete_task(done)
    assert crm.tasks()[0].status == crm.task_completed

    next_week = crm.sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(7)})
    crm.sandbox.usage.shift_weeks(1)  # the same usage next week, so the same accounts fire
    outcome = run_sync(next_week, dry_run=False)

    reasons = {s.key.rsplit(":", 2)[1]: s.reason for s in outcome.plan.suppressed}
    assert len(reasons) == len(outcome.plan.suppressed) == LOW_SCOUTING
    assert reasons[done.account_id] == (
        "cooling down until 2026-12-07 (last task completed 2026-11-23)"  # + 14 days
    )
    for task in still_open:
        assert reasons[task.account_id] == "an earlier task of this rule is still open"
    assert outcome.plan.tasks == ()
    assert outcome.summary.tasks_created == 0


def test_each_email_is_sent_once_and_logged_as_one_completed_task(crm: SandboxCrm) -> None:
    outcome = run_sync(crm.sandbox.settings, dry_run=False)
    run_sync(crm.sandbox.settings, dry_run=False)

    messages = crm.sandbox.smtp.messages
    sent = {str(m["X-CS-Connector-Key"]) for m in messages}
    assert outcome.summary.emails_sent == len(sent) == len(messages) == EMAILS
    logged = [t for t in crm.tasks() if t.is_email_log]
    assert {t.status for t in logged} == {crm.task_completed}
    sent_logs = [t for t in logged if t.subject.startswith("Email: ")]
    assert {t.key for t in sent_logs} == sent
    assert len(sent_logs) == len(sent)  # the in-progress log was completed, not created twice
    assert len(logged) == EMAILS + EMAILS_NOT_SENT


def test_the_slack_digest_links_every_red_account_to_its_record(crm: SandboxCrm) -> None:
    run_sync(crm.sandbox.settings, dry_run=False)

    (digest,) = [p for p in crm.sandbox.slack.posts if str(p["text"]).startswith("Accounts")]
    red = [a for a in crm.customers() if a.results["health_color"] == "Red"]
    assert len(red) == RED
    links = set(re.findall(r"<(https://[^|>]+)\|", json.dumps(digest)))
    assert links == {crm.record_url(a.id) for a in red}


# -- writes the CRM refuses, or whose answer is lost --------------------------------------------


def test_rejected_records_are_reported_and_the_rest_are_written(crm: SandboxCrm) -> None:
    crm.refuse_value("health_color", "Red")

    outcome = run_sync(crm.sandbox.settings, dry_run=False)

    red = _red_in_plan(crm, outcome.plan.updates)
    assert len(red) == RED
    failures = outcome.summary.failures
    assert sorted(f.record for f in failures) == sorted(red)
    assert {f.code for f in failures} == {crm.rejected_code}
    assert all("Red" in f.message for f in failures)  # the CRM's own words
    assert outcome.summary.records_written == CUSTOMERS - RED
    assert crm.update_statuses() == [crm.partial_write_status]  # one batch, answered per record
    unwritten = {a.id for a in crm.customers() if a.results["health_score"] is None}
    assert unwritten == red  # all or nothing per record


def test_a_lost_update_answer_is_retried_as_updates_are_safe_to_repeat(crm: SandboxCrm) -> None:
    crm.drop_update_answer()

    outcome = run_sync(without_email(crm.sandbox.settings), dry_run=False)

    updates = [n for kind, n in crm.write_batches() if kind == "update"]
    assert updates == [CUSTOMERS, CUSTOMERS]  # the dropped one, then its retry
    assert outcome.summary.failures == []
    assert outcome.summary.records_written == CUSTOMERS


def test_a_lost_create_answer_leaves_exactly_one_task(crm: SandboxCrm) -> None:
    settings = without_email(crm.sandbox.settings)
    crm.drop_create_answer()

    first = run_sync(settings, dry_run=False)
    unknown = [f for f in first.summary.failures if f.code == "OUTCOME_UNKNOWN"]
    assert first.summary.tasks_created == len(first.plan.tasks) - len(unknown)
    second = run_sync(settings, dry_run=False)

    assert second.summary.failures == []
    assert second.summary.tasks_created == 0
    keys = Counter(t.key for t in crm.tasks())
    assert set(keys) == {t.key for t in first.plan.tasks}
    assert len(keys) == RULE_TASKS
    assert set(keys.values()) == {1}


def test_a_run_that_lost_its_store_creates_no_second_task(crm: SandboxCrm) -> None:
    settings = without_email(crm.sandbox.settings)
    first = run_sync(settings, dry_run=False)
    store = Path(settings.state_database_url.get_secret_value().removeprefix("sqlite:///"))
    store.unlink()

    again = run_sync(settings, dry_run=False)

    assert (first.summary.tasks_created, again.summary.tasks_created) == (RULE_TASKS, 0)
    keys = Counter(t.key for t in crm.tasks())
    assert set(keys) == {t.key for t in first.plan.tasks}
    assert set(keys.values()) == {1}


def test_writes_are_batched_at_the_platform_maximum(
    tmp_path: Path, project: Path, crm_name: CrmName
) -> None:
    """Two full batches and 50 more accounts; one full batch and one more task."""
    most = CRMS[crm_name].max_write_batch
    (project / "playbooks" / "rules.yaml").write_text(
        "rules:\n"
        "  - id: every-account\n"
        f"    description: fires for the first {most + 1} accounts by tenant\n"
        f"    when: CAST(SUBSTR(tenant_id, 5) AS INTEGER) <= {most + 1}\n"
        "    actions:\n"
        "      - create_task: {subject: 'Check {{ name }}'}\n"
    )
    with running_sandbox(
        tmp_path / "big", crm=crm_name, as_of=AS_OF, customers=2 * most + 50, project_dir=project
    ) as big:
        crm = sandbox_crm(big)
        outcome = run_sync(without_daily_limit(big.settings), dry_run=False)
        assert (outcome.summary.records_written, outcome.summary.tasks_created) == (
            2 * most + 50,
            most + 1,
        )
        # HubSpot sends its batches CRM_CONCURRENCY at a time: they may land in any order
        assert sorted(crm.write_batches()) == [
            ("create", 1),
            ("create", most),
            ("update", 50),
            ("update", most),
            ("update", most),
        ]
        assert crm.write_calls() == 5  # and nothing else was written


# -- mistakes that stop a run before it writes -------------------------------------------------


def test_a_misspelt_mapped_field_fails_at_its_line_before_any_read_or_write(
    crm: SandboxCrm, project: Path
) -> None:
    field = shipped_mapping(crm.name)["account"]["fields"]["industry"]  # Industry, industry
    typo = field[:-1] + "i"
    mapping = project / "mappings" / f"{crm.name}.yaml"
    mapping.write_text(mapping.read_text().replace(f"industry: {field}", f"industry: {typo}"))

    with pytest.raises(ConfigError) as raised:
        run_sync(crm.sandbox.settings, dry_run=False)

    line = line_of(mapping, f"industry: {typo}")
    problem = crm.no_such_field.format(field=typo) + f". Did you mean '{field}'?"
    assert f"{mapping}:{line}: {problem}" in str(raised.value)
    assert (crm.read_calls(), crm.write_calls()) == (0, 0)


def test_validate_names_a_field_missing_in_the_crm_at_its_mapping_line(
    crm: SandboxCrm, project: Path
) -> None:
    field = crm.remove_result_field("health_trend")

    result = CliRunner().invoke(app, ["validate"], env=cli_env(crm.sandbox))

    mapping = project / "mappings" / f"{crm.name}.yaml"
    assert result.exit_code == EXIT_CONFIG, result.output
    line = line_of(mapping, f"health_trend: {field}")
    assert f"{mapping}:{line}: {crm.no_such_field.format(field=field)}" in result.output
    assert (crm.read_calls(), crm.write_calls()) == (0, 0)


def test_a_mistyped_object_fails_at_its_line_before_any_write(
    crm: SandboxCrm, project: Path
) -> None:
    name = shipped_mapping(crm.name)["tasks"]["object"]
    typo = name[:2] + name[3] + name[2] + name[4:]  # Task → Taks, tasks → takss
    mapping = project / "mappings" / f"{crm.name}.yaml"
    mapping.write_text(mapping.read_text().replace(f"  object: {name}\n", f"  object: {typo}\n"))

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(crm.sandbox))

    assert result.exit_code == EXIT_CONFIG, result.output
    line = line_of(mapping, f"object: {typo}")
    assert f"{mapping}:{line}: {crm.no_such_object.format(object=typo)}" in result.output
    assert (crm.read_calls(), crm.write_calls()) == (0, 0)


def test_a_rule_may_only_set_text_fields(crm: SandboxCrm, project: Path) -> None:
    mapped = shipped_mapping(crm.name)
    status, score = mapped["rule_fields"]["renewal_status"], mapped["results"]["health_score"]
    mapping = project / "mappings" / f"{crm.name}.yaml"
    mapping.write_text(
        mapping.read_text().replace(f"renewal_status: {status}", f"renewal_status: {score}")
    )

    with pytest.raises(ConfigError) as raised:
        run_sync(crm.sandbox.settings, dry_run=False)

    rules = project / "playbooks" / "rules.yaml"
    line = line_of(rules, "id: renewal-90-days")
    assert f"{rules}:{line}: rule 'renewal-90-days' cannot set 'renewal_status': " in str(
        raised.value
    )
    assert score in str(raised.value)
    assert (crm.read_calls(), crm.write_calls()) == (0, 0)


def test_cli_bad_rule_column_exits_with_its_line_before_any_call(
    crm: SandboxCrm, project: Path
) -> None:
    rules = project / "playbooks" / "rules.yaml"
    rules.write_text(rules.read_text().replace("when: scouts_sent < 20", "when: scout_sent < 20"))

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(crm.sandbox))

    assert result.exit_code == EXIT_CONFIG
    line = line_of(rules, "when: scout_sent < 20")
    assert f"{rules}:{line}: unknown column 'scout_sent'" in result.output
    assert crm.calls() == 0


# -- a CRM that cannot be used -------------------------------------------------------------------


def test_exhausted_api_budget_stops_the_run_with_its_own_exit_code(crm: SandboxCrm) -> None:
    crm.exhaust_api_budget()

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(crm.sandbox))

    assert result.exit_code == EXIT_API_BUDGET, result.output
    # Salesforce refuses a query; HubSpot's daily headers show the budget too small for the
    # reads, so the budget guard (tests/e2e/test_api_budget.py) stops before any is refused
    said = " ".join(result.output.split())
    assert crm.budget_used_up in said or "Stopped before the reads" in said
    assert "Traceback" not in result.output
    assert crm.budget_refusals() <= 1  # not retried: waiting cannot help before tomorrow
    assert crm.write_calls() == 0


def test_an_unreachable_crm_is_a_sentence_naming_its_url_setting(crm: SandboxCrm) -> None:
    env = {**cli_env(crm.sandbox), crm.url_setting: f"https://127.0.0.1:{_closed_port()}"}

    result = CliRunner().invoke(app, ["run", "--once"], env=env)

    assert result.exit_code == EXIT_FAILED, result.output
    assert crm.url_setting in result.output
    assert "Traceback" not in result.output
    assert crm.calls() == 0


def test_json_logs_carry_the_run_id_and_no_secrets_or_customer_names(crm: SandboxCrm) -> None:
    crm.refuse_value("health_color", "Red")

    result = CliRunner().invoke(
        app, ["run", "--once"], env={**cli_env(crm.sandbox), "LOG_FORMAT": "json"}
    )

    assert result.exit_code == EXIT_PARTIAL
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    events = [e for e in events if e["logger"].startswith("connector.")]  # not the sandbox's
    names = [e["event"] for e in events]
    assert names[0] == "run_started"
    assert {"planned", "record_rejected", "run_finished"} <= set(names)
    assert len({e["run_id"] for e in events}) == 1
    rejected = {(e["record"], e["code"]) for e in events if e["event"] == "record_rejected"}
    customers = crm.customers()
    refused = {a.id for a in customers if a.results["health_color"] is None}
    assert len(refused) == RED
    assert rejected == {(record, crm.rejected_code) for record in refused}
    assert not [a.name for a in customers if a.name in result.stderr]
    assert crm.secret_fragment not in result.stderr
