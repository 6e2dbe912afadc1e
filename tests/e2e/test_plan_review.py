"""Reviewing a playbook change before it ships: the whole plan as files, a snapshot replayed
offline, and `plan --compare` on the demo company — once per CRM."""

from __future__ import annotations

import gc
import re
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import connector.run
from connector.checks import load_checked_config
from connector.cli import app
from connector.crm.connect import connect
from connector.errors import ExitCode
from connector.plan.state import TaskState
from connector.replay import evaluate_inputs, read_live
from connector.replay.snapshot import load_snapshot
from connector.review import review_change
from connector.run import plan_from_snapshot, run_sync
from connector.sandbox.demo import RunningSandbox
from connector.settings import Settings
from connector.store import HistoryStore
from tests.e2e.conftest import ROOT, SandboxCrm, cli_env, sandbox_crm


def smtp_env(sandbox: RunningSandbox) -> dict[str, str]:
    s = sandbox.settings
    assert s.smtp_host is not None
    return {"SMTP_HOST": s.smtp_host, "SMTP_PORT": str(s.smtp_port), "SMTP_SECURITY": "none"}


def test_plan_output_rows_are_what_the_real_run_then_writes(
    crm_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    out = tmp_path / "plan"
    env = {**cli_env(crm_sandbox), **smtp_env(crm_sandbox)}

    planned = CliRunner().invoke(app, ["plan", "--output", str(out)], env=env)
    done = run_sync(crm_sandbox.settings, dry_run=False).summary

    assert planned.exit_code == 0, planned.output
    tables = {kind: pl.read_parquet(out / f"{kind}.parquet") for kind in KINDS}
    for kind, frame in tables.items():  # the CSV holds the same rows
        assert pl.read_csv(out / f"{kind}.csv", infer_schema=False).height == frame.height
    not_done = tables["not_done"]["kind"].value_counts()
    counts = dict(zip(not_done["kind"], not_done["count"], strict=True))
    assert tables["field_changes"]["record_id"].n_unique() == done.records_written > 0
    assert tables["tasks"].height == done.tasks_created > 0
    sends = tables["emails"].filter(pl.col("action") == "send")
    assert sends.height == done.emails_sent > 0
    assert tables["slack"].height == done.slack_posted
    assert counts.get("suppressed", 0) == done.tasks_suppressed
    assert counts.get("deferred", 0) == done.tasks_deferred > 0
    assert set(tables["tasks"]["key"]) <= set(crm_keys(crm_sandbox))
    summary = (out / "summary.json").read_text()
    assert '"dry_run": true' in summary


KINDS = ("field_changes", "tasks", "emails", "slack", "not_done")


def crm_keys(sandbox: RunningSandbox) -> list[str]:
    return [task.key for task in sandbox_crm(sandbox).tasks()]


def test_a_snapshot_replayed_without_crm_usage_or_store_plans_the_same(
    crm: SandboxCrm, crm_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    snapshot = tmp_path / "snapshot"
    run_sync(crm_sandbox.settings, dry_run=False)  # tasks in the CRM, emails in the ledger
    live_run = run_sync(crm_sandbox.settings, dry_run=True, save_snapshot=snapshot)
    live = live_run.plan
    calls = crm.calls()
    offline = without_credentials(crm_sandbox.settings, tmp_path)

    replayed = plan_from_snapshot(offline, snapshot)

    assert replayed.plan == live
    # the usage weeks kept in the store are not counted as read, live or replayed
    assert replayed.summary.usage_rows_read == live_run.summary.usage_rows_read
    assert all((live.deferred, live.suppressed))  # what the CRM holds and created today count
    assert crm.calls() == calls  # nothing asked of the CRM
    assert not (tmp_path / "no-store.db").exists()  # nor of a store


def test_planning_keeps_of_the_inputs_only_the_contacts(
    crm_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A run plans from `for_planning()` (a replay too): the usage, meetings, deals and
    stored history are let go once evaluated. The replay above, planned so, plans what the
    live run planned from its whole inputs."""
    snapshot = tmp_path / "snapshot"
    run_sync(crm_sandbox.settings, dry_run=True, save_snapshot=snapshot)
    config = load_checked_config(crm_sandbox.settings)
    inputs = load_snapshot(snapshot, config, crm_sandbox.settings.crm)[0]

    kept = inputs.for_planning()

    whole, planned = inputs.extracted.records, kept.extracted.records
    assert whole.usage.height
    assert whole.opportunities.height
    assert whole.meetings is not None
    assert planned.usage.is_empty()
    assert planned.opportunities.is_empty()
    assert planned.meetings is None
    assert kept.extracted.usage.weekly.is_empty()
    assert kept.kept.is_empty()
    assert kept.usage_totals.is_empty()
    assert kept.history.is_empty()
    assert planned.contacts is not None
    assert whole.contacts is not None
    assert planned.contacts.equals(whole.contacts)
    assert (kept.as_of, kept.link("001X"), kept.risk) == (
        inputs.as_of,
        inputs.link("001X"),
        inputs.risk,
    )
    # told which accounts an email may go to, it keeps only their contacts (the replay
    # above plans so, and plans what the live run planned with every contact)
    emailed = whole.contacts["account_id"].unique(maintain_order=True).head(2)
    theirs = inputs.for_planning(emailed).extracted.records.contacts
    assert theirs is not None
    assert theirs.equals(whole.contacts.filter(pl.col("account_id").is_in(emailed.implode())))
    assert 0 < theirs.height < whole.contacts.height


def test_a_run_holds_the_contacts_packed_until_it_addresses_the_emails(
    crm_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once evaluated, a run keeps the contacts an email may go to packed through its key
    look-ups and joins (`contacts_set_aside`), and unpacks them to address its emails: no
    frame of contacts is alive while it reads the CRM's tasks, and its emails are those
    planned from the contacts whole (the replay above plans so)."""
    alive: list[int] = []

    class NotingContactsAlive(TaskState):
        @classmethod
        def read(cls, *args: Any, **kwargs: Any) -> TaskState:
            gc.collect()
            frames = [o for o in gc.get_objects() if isinstance(o, pl.DataFrame)]
            alive.extend(f.height for f in frames if {"account_id", "first_name"} <= set(f.columns))
            return TaskState.read(*args, **kwargs)

    monkeypatch.setattr(connector.run, "TaskState", NotingContactsAlive)
    outcome = run_sync(crm_sandbox.settings, dry_run=True)

    assert outcome.plan.emails
    assert not any(alive)


def without_credentials(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "salesforce_client_secret": None,
            "hubspot_access_token": None,
            "usage_api_url": None,
            "usage_api_token": None,
            "state_database_url": f"sqlite:///{tmp_path / 'no-store.db'}",
        }
    )


def edit_the_change(project: Path) -> None:
    """One rule's threshold and one health weight, as a RevOps pull request would."""
    rules = project / "playbooks" / "rules.yaml"
    text = rules.read_text()
    assert "when: scouts_sent < 20 AND" in text
    rules.write_text(text.replace("when: scouts_sent < 20 AND", "when: scouts_sent < 30 AND"))
    health = project / "playbooks" / "health.yaml"
    text = health.read_text()
    weight = "engagement: {label: {en: Engagement, ja: エンゲージメント}, weight: 1}"
    assert weight in text
    health.write_text(text.replace(weight, weight.replace("weight: 1", "weight: 3")))


def test_compare_names_exactly_the_accounts_a_change_moves_reading_the_crm_once(
    crm: SandboxCrm, crm_sandbox: RunningSandbox, project: Path, tmp_path: Path
) -> None:
    head = crm_sandbox.settings
    base = head.model_copy(
        update={"mappings_dir": ROOT / "mappings", "playbooks_dir": ROOT / "playbooks"}
    )
    for _ in range(2):  # the first reads fill the mirror, the next learn what is outside it
        run_sync(base, dry_run=True)
    crm.reset_calls()
    one_plan = run_sync(base, dry_run=True)
    plan_calls = crm.calls()
    edit_the_change(project)
    # independently: each configuration run on its own, and the results diffed
    want_tasks = task_accounts(base) ^ task_accounts(head)
    want_colours = moved_colours(base, head)
    crm.reset_calls()

    review = review_change(head, str(ROOT))

    impact = review.impact
    assert {(c.rule_id, c.account_name) for c in impact.tasks} == want_tasks != set()
    colours = {
        m.account_name: (m.before, m.after) for m in impact.moves if m.what == "health_color"
    }
    assert colours == want_colours != {}
    assert crm.calls() == plan_calls  # the CRM read once: what one plan costs
    assert review.crm_api.calls == one_plan.summary.crm_api.calls
    # the usage API read once too: this week and the one before, a stream each (until_param)
    assert review.usage_api_calls == one_plan.summary.usage_api_calls == 2


def task_accounts(settings: Settings) -> set[tuple[str, str]]:
    plan = run_sync(settings, dry_run=True).plan
    return {(t.rule_id, t.account_name) for t in (*plan.tasks, *plan.deferred)}


def moved_colours(base: Settings, head: Settings) -> dict[str, tuple[str, str]]:
    colours = [health_colours(settings) for settings in (base, head)]
    return {
        name: (colours[0][name], colours[1][name])
        for name in colours[0]
        if colours[0][name] != colours[1][name]
    }


def health_colours(settings: Settings) -> dict[str, str]:
    config = load_checked_config(settings)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    with closing(connect(settings, config.mapping, store)) as crm:
        inputs = read_live(crm, store, [config], settings, settings.today)
    table = evaluate_inputs(config, inputs, settings).evaluation.table
    store.close()
    return dict(table.select("name", "health_color").iter_rows())


def test_compare_with_a_git_ref_reports_markdown_and_exits_7_over_a_limit(
    sandbox: RunningSandbox, project: Path, tmp_path: Path
) -> None:
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "mappings", "playbooks")
    git(project, "-c", "user.name=RevOps", "-c", "user.email=r@example.com", "commit", "-qm", "x")
    edit_the_change(project)
    report = tmp_path / "impact.md"
    command = ["plan", "--compare", "main", "--format", "markdown", "--report", str(report)]

    within = CliRunner().invoke(app, command, env=cli_env(sandbox))
    over = CliRunner().invoke(
        app, [*command, "--max-new-tasks-per-owner", "0"], env=cli_env(sandbox)
    )

    assert within.exit_code == 0, within.output
    text = report.read_text()
    assert text.startswith("## Playbook change: this change compared with `main`")
    assert "### Health colour moves" in text
    assert re.search(r"\| low-scouting \| [1-9]\d* \| 0 \| 0 \|", text)
    assert over.exit_code == ExitCode.OVER_LIMITS, over.output
    assert "Over the limits" in over.output
    assert "limit 0 a person" in over.output


def test_compare_with_an_unknown_ref_is_a_sentence(sandbox: RunningSandbox, project: Path) -> None:
    git(project, "init", "-q")
    result = CliRunner().invoke(app, ["plan", "--compare", "no-such-branch"], env=cli_env(sandbox))

    assert result.exit_code == ExitCode.CONFIG, result.output
    assert "'no-such-branch' is not a commit of the repository" in result.output


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)  # noqa: S607


def test_compare_from_a_snapshot_in_ci_reports_what_the_live_compare_does(
    crm: SandboxCrm, crm_sandbox: RunningSandbox, project: Path, tmp_path: Path
) -> None:
    """The pull-request workflow: production saves a snapshot with the deployed
    configuration; CI, with no credentials, compares the change on it."""
    snapshot = tmp_path / "snapshot"
    head = crm_sandbox.settings
    base = head.model_copy(
        update={"mappings_dir": ROOT / "mappings", "playbooks_dir": ROOT / "playbooks"}
    )
    run_sync(base, dry_run=True, save_snapshot=snapshot)
    edit_the_change(project)
    live = review_change(head, str(ROOT)).impact
    crm.reset_calls()

    offline = review_change(without_credentials(head, tmp_path), str(ROOT), snapshot).impact

    assert offline == live
    assert offline.tasks
    assert offline.moves
    assert crm.calls() == 0


def test_a_snapshot_that_does_not_fit_is_a_sentence_and_plans_nothing(
    sandbox: RunningSandbox, project: Path, tmp_path: Path
) -> None:
    snapshot = tmp_path / "snapshot"
    run_sync(sandbox.settings, dry_run=True, save_snapshot=snapshot)
    mapping = project / "mappings" / "salesforce.yaml"
    mapping.write_text(
        mapping.read_text().replace(
            "    industry: Industry\n", "    industry: Industry\n    rating: Rating\n"
        )
    )
    env = cli_env(sandbox)

    unfit = CliRunner().invoke(app, ["plan", "--from-snapshot", str(snapshot)], env=env)
    other_crm = CliRunner().invoke(
        app, ["plan", "--from-snapshot", str(snapshot)], env={**env, "CRM": "hubspot"}
    )
    nothing = CliRunner().invoke(app, ["plan", "--from-snapshot", str(tmp_path)], env=env)

    assert unfit.exit_code == ExitCode.CONFIG, unfit.output
    assert "has no accounts.rating: the configuration maps them" in unfit.output
    assert other_crm.exit_code == ExitCode.CONFIG, other_crm.output
    assert "was saved from salesforce, but CRM is hubspot" in other_crm.output
    assert nothing.exit_code == ExitCode.CONFIG, nothing.output
    assert "is not a snapshot" in nothing.output
