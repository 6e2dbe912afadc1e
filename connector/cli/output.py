"""What RevOps reads after a run: the plan as tables, then the run summary."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connector.crm.protocol import TaskIntent
from connector.doctor.findings import Finding
from connector.messages.email_log import Outcome
from connector.messages.slack import SlackMessage
from connector.plan.model import Plan, TaskVolume, suppressed_by_rule_and_reason
from connector.run import RunSummary

ROWS_SHOWN = 8
FIELD_ROWS_SHOWN = 24
SLACK_LINES_SHOWN = 12
EMAIL_LINES_SHOWN = 6
SLACK_LINK = re.compile(r"<[^|>]+\|([^>]+)>")


def print_plan(console: Console, plan: Plan, *, dry_run: bool) -> None:
    verb = "would be" if dry_run else "to be"
    console.print(
        f"[bold]Plan[/]: {len(plan.updates)} field updates and {len(plan.tasks)} tasks "
        f"{verb} written; {len(plan.suppressed)} tasks already in the CRM."
    )
    if plan.volume is not None and plan.volume.deferred:
        console.print(_spread(plan.volume))
    if plan.updates:
        table = Table("Account", "Field", "Now", "New", title="Field updates", title_justify="left")
        shown = rows = 0
        for update in plan.updates:
            if shown and rows + len(update.changes) > FIELD_ROWS_SHOWN:
                break
            for change in update.changes:
                table.add_row(
                    _x(update.label), _x(change.field), _show(change.old), _show(change.new)
                )
            shown, rows = shown + 1, rows + len(update.changes)
        console.print(table)
        _more(console, len(plan.updates), "accounts", shown=shown)
    if plan.tasks or plan.deferred or plan.suppressed:
        console.print(_tasks_by_rule(plan))
    for left_out in plan.skipped[:ROWS_SHOWN]:
        who = f"for {left_out.account_name}" if left_out.account_name else "for every account"
        said = escape(f"rule '{left_out.rule_id}' {who} — {left_out.where}: {left_out.reason}")
        console.print(f"[yellow]skipped[/] {said}")  # the reason quotes RevOps' own text
    _more(console, len(plan.skipped), "skipped rules and actions")
    for message in plan.slack[:ROWS_SHOWN]:
        lines = _slack_text(message).splitlines()
        console.print(f"[bold]Slack post[/] ({message.key}):")
        for line in lines[:SLACK_LINES_SHOWN]:
            console.print(f"  {_x(line)}")
        if len(lines) > SLACK_LINES_SHOWN:
            console.print(f"  … and {len(lines) - SLACK_LINES_SHOWN} more lines.")
    _more(console, len(plan.slack), "Slack posts")
    settled_keys = {s.email.key for s in plan.emails_settled}  # shown with the emails below
    for key in (key for key in plan.held if key not in settled_keys):
        console.print(
            f"[yellow]held back[/]: {key} may have been delivered (its answer was "
            "lost), so it is not sent again blindly (a Slack bot looks in the channel first)."
        )
    for email in plan.emails[:ROWS_SHOWN]:
        console.print(
            f"[bold]Email[/] ({email.rule_id}, {email.locale}) from "
            + _x(
                f"{email.from_name} <{email.from_email}> to {email.to_name} "
                f"<{email.to_email}>: {email.subject}"
            )
        )
        for line in email.text.splitlines()[:EMAIL_LINES_SHOWN]:
            console.print(f"  | {_x(line)}")
    _more(console, len(plan.emails), "emails")
    if plan.emails_waiting:
        console.print(
            f"{len(plan.emails_waiting)} more emails are due and wait: a run sends at most "
            "EMAIL_RUN_CAP (and EMAIL_DAILY_CAP a day), so later runs write and send them."
        )
    for skipped in plan.emails_skipped[:ROWS_SHOWN]:
        console.print(
            f"[yellow]email not sent[/] ({skipped.rule_id}) to "
            + _x(f"{skipped.account_name}: {skipped.reason}")
            + " — logged in the CRM with the reason"
        )
    _more(console, len(plan.emails_skipped), "emails not sent")
    for settled in plan.emails_settled[:ROWS_SHOWN]:
        what = (
            "was sent: its Task is completed"
            if settled.outcome is Outcome.SENT
            else "may or may not have arrived: its Task asks the CSM to check with the customer"
        )
        console.print(
            f"[yellow]stopped run[/]: the email ({settled.email.rule_id}) to "
            + _x(f"{settled.email.account_name} {what}")
        )
    _more(console, len(plan.emails_settled), "emails a stopped run left open")
    if plan.tasks:
        table = Table("Account", "Task", "Due", "Priority", title="New tasks", title_justify="left")
        for task in plan.tasks[:ROWS_SHOWN]:
            table.add_row(
                _x(task.account_name), _x(task.subject), task.due_date.isoformat(), task.priority
            )
        console.print(table)
        _more(console, len(plan.tasks), "tasks")
        _task_as_read(console, plan.tasks[0])
    if plan.deferred:
        table = Table("Account", "Task", "Priority", title="Deferred", title_justify="left")
        for task in plan.deferred[:ROWS_SHOWN]:
            table.add_row(_x(task.account_name), _x(task.subject), task.priority)
        console.print(table)
        _more(console, len(plan.deferred), "deferred tasks")


def _task_as_read(console: Console, task: TaskIntent) -> None:
    """One task whole, as its assignee reads it in the CRM: the templates' words checked."""
    console.print(f"[bold]Task[/] ({task.rule_id}) for {_x(task.account_name)}: {_x(task.subject)}")
    for line in task.description.splitlines()[:EMAIL_LINES_SHOWN]:
        console.print(f"  | {_x(line)}")


def _spread(volume: TaskVolume) -> str:
    """ "556 new tasks wanted: 90 today, the other 466 over the next 7 working days …"."""
    days = f"{volume.working_days} working day{'s' if volume.working_days != 1 else ''}"
    today = (
        f"{volume.today} today, the other {volume.deferred}"
        if volume.working_day
        else f"none today (a day off), all {volume.deferred}"
    )
    return (
        f"[bold]Daily limit[/]: {volume.wanted} new tasks wanted; {today} "
        f"over the next {days} (the last on {volume.last_day}) at "
        f"{volume.limit} a person a day, the most urgent first ({volume.people_at_limit} "
        "people at the limit)."
    )


def _tasks_by_rule(plan: Plan) -> Table:
    new = Counter(task.rule_id for task in plan.tasks)
    later = Counter(task.rule_id for task in plan.deferred)
    suppressed = suppressed_by_rule_and_reason(plan.suppressed)
    table = Table(
        "Rule",
        "New tasks",
        "Deferred",
        "Not created",
        "Why not",
        title="Tasks by rule",
        title_justify="left",
    )
    for rule_id in sorted(set(new) | set(later) | {rule for rule, _ in suppressed}):
        reasons = [
            (reason, n) for (rule, reason), n in sorted(suppressed.items()) if rule == rule_id
        ] or [("", 0)]
        for index, (reason, count) in enumerate(reasons):
            table.add_row(
                rule_id if index == 0 else "",
                str(new[rule_id]) if index == 0 else "",
                str(later[rule_id]) if index == 0 else "",
                str(count),
                reason,
            )
    return table


def print_summary(console: Console, summary: RunSummary) -> None:
    api = summary.crm_api
    budget = (
        f" (daily API use: {api.used_today}/{api.daily_limit})"
        if api.daily_limit is not None
        else ""
    )
    if api.rate_limit_wait_seconds >= 0.1:
        budget += f", {api.rate_limit_wait_seconds:.1f}s paced to its rate limit"
    mode = "dry run, nothing written" if summary.dry_run else "applied"
    console.print(
        f"[bold]Run {summary.run_id}[/] ({mode}, as of {summary.as_of}): "
        f"read {summary.accounts_read} accounts, {summary.opportunities_read} opportunities, "
        f"{summary.usage_rows_read} usage rows; {summary.rules_fired} rule firings; "
        f"wrote {summary.records_written} records, created {summary.tasks_created} tasks"
        + (
            f" ({summary.tasks_deferred} more deferred by the daily limit)"
            if summary.tasks_deferred
            else ""
        )
        + "; "
        f"CRM API calls {api.calls}{budget}, usage API calls {summary.usage_api_calls}; "
        f"{summary.duration_seconds:.2f}s."
    )
    for failure in summary.failures:
        console.print(
            "[red]not written[/] "
            + _x(f"{failure.label} ({failure.record}): {failure.code} {failure.message}")
        )
    if summary.slack_posted or summary.slack_failed or summary.slack_unknown:
        console.print(
            f"Slack: {summary.slack_posted} posted, {summary.slack_failed} failed "
            f"(retried next run), {summary.slack_unknown} with an unknown outcome."
        )
    if summary.slack_problem:
        console.print(f"[yellow]Not posted to Slack[/]: {_x(summary.slack_problem)}.")
    if summary.emails_sent or summary.emails_failed or summary.emails_over_cap:
        console.print(
            f"Email: {summary.emails_sent} sent, {summary.emails_failed} not sent "
            "(logged in the CRM with the reason; one the mail server asked to retry later "
            f"goes on the next run), {summary.emails_over_cap} over the sending cap (sent on "
            "a later run)."
        )
    if summary.emails_unknown:
        console.print(
            f"[yellow]Email[/]: {summary.emails_unknown} may or may not have arrived (the "
            "connection broke while it was sent): never sent again; its Task asks the CSM "
            "to check with the customer."
        )
    if summary.emails_not_configured:
        console.print(
            f"[yellow]Email[/]: {summary.emails_not_configured} emails not sent — set "
            "SMTP_HOST to deliver them."
        )
    if summary.slack_not_configured:
        console.print(
            f"[yellow]Slack[/]: {summary.slack_not_configured} posts not sent — set "
            "SLACK_BOT_TOKEN and SLACK_CHANNEL (or SLACK_WEBHOOK_URL) to deliver them."
        )
    console.print(
        f"Usage: {summary.usage_rows_read} rows read, {summary.usage_rows_skipped} left out; "
        f"{summary.accounts_without_usage} of {summary.accounts_read} accounts without usage "
        "this week."
    )
    for reason, count in summary.usage_rows_skipped_by_reason.items():
        console.print(f"[yellow]usage rows left out[/]: {count} — {_x(reason)}")
    for note in summary.usage_notes:
        console.print(f"[yellow]usage[/]: {_x(note)}")
    if summary.churn_risk:
        console.print(f"[yellow]Churn risk[/]: {_x(summary.churn_risk)}")
    if summary.churn_risk_backtest:
        b = summary.churn_risk_backtest
        scored = (
            "none written" if summary.churn_risk else f"{summary.churn_risk_scored} accounts scored"
        )
        console.print(
            f"Churn risk: {scored}. Backtest on the "
            f"{b['test_renewals']} renewals closed from {b['cutoff']} ({b['test_churned']} "
            f"lost), trained on the {b['train_renewals']} before: AUC {b['auc']:.2f} against "
            f"{b['baseline_auc']:.2f} for the health score alone; Brier score {b['brier']:.3f} "
            f"against {b['baseline_brier']:.3f} (lower is better)."
        )


def write_summary_json(path: Path, summary: RunSummary) -> None:
    path.write_text(json.dumps(summary.to_json(), indent=2) + "\n")


def _show(value: Any) -> str:
    return "—" if value is None else _x(str(value))


def _x(text: str) -> str:
    """CRM and customer text printed as itself: `[red]` in an account name is not markup."""
    return escape(text)


def _more(console: Console, total: int, noun: str, shown: int = ROWS_SHOWN) -> None:
    if total > shown:
        console.print(f"… and {total - shown} more {noun}.")


def print_findings(console: Console, findings: list[Finding], *, crm: str = "org") -> None:
    """One line a check; under each problem, where it is named and how to fix it."""
    console.print(f"[bold]{crm.capitalize()} setup[/]")
    for finding in findings:
        mark = "[green]ok [/]" if finding.ok else "[red]fix[/]"
        where = f" ({finding.where})" if finding.where else ""
        console.print(f"{mark} {finding.what}{where}")
        if finding.fix and not finding.ok:
            console.print(f"    → {finding.fix}")
    problems = sum(not finding.ok for finding in findings)
    console.print(
        f"[green]The {crm} is ready.[/]" if not problems else f"[red]{problems} thing(s) to fix.[/]"
    )


def _slack_text(message: SlackMessage) -> str:
    """What the channel would read: the header and sections, links shown as their text."""
    texts = [b["text"]["text"] for b in message.blocks if b.get("type") in ("header", "section")]
    return SLACK_LINK.sub(r"\1", "\n".join(texts) if texts else message.text)
