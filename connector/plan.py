"""The plan: every write a run intends, diffed against what the CRM already holds.

Built from the evaluated table alone (pure), so `--dry-run` shows exactly what a real run
would do, and a second run with no data change plans nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl

from connector.config.playbook import CreateTask, Rule
from connector.emails import Email, EmailRequest, SkippedEmail
from connector.engine.expressions import compile_sql
from connector.engine.rules import action_key
from connector.frame import CURRENT_PREFIX
from connector.slack import SlackMessage
from connector.templates import render


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class RecordUpdate:
    record_id: str
    label: str
    changes: tuple[FieldChange, ...]

    def values(self) -> dict[str, Any]:
        return {change.field: change.new for change in self.changes}


@dataclass(frozen=True)
class PlannedTask:
    key: str
    rule_id: str
    account_id: str
    account_name: str
    assignee_id: str
    subject: str
    description: str
    due_date: date
    priority: str
    status: str
    task_type: str | None = None  # "Email" for a logged email
    contact_id: str | None = None  # the person it concerns (Salesforce WhoId)


@dataclass(frozen=True)
class ExistingTask:
    """A keyed task already in the CRM. Its key is never used again; while it is open, or
    within its rule's cooldown after completion, its rule makes no new task for the account."""

    key: str
    record_id: str
    is_closed: bool
    completed_on: date | None = None

    @property
    def rule_and_account(self) -> tuple[str, str]:
        rule_id, account_id, _ = self.key.rsplit(":", 2)
        return rule_id, account_id


@dataclass(frozen=True)
class SuppressedTask:
    key: str
    rule_id: str
    account_name: str
    reason: str


@dataclass(frozen=True)
class Plan:
    updates: tuple[RecordUpdate, ...] = ()
    tasks: tuple[PlannedTask, ...] = ()
    suppressed: tuple[SuppressedTask, ...] = ()
    emails: tuple[Email, ...] = ()
    emails_skipped: tuple[SkippedEmail, ...] = ()
    slack: tuple[SlackMessage, ...] = ()
    held: tuple[str, ...] = ()  # message keys whose earlier send has an unknown outcome

    @property
    def is_empty(self) -> bool:
        """Nothing to write, create or send."""
        return not (self.updates or self.tasks or self.emails or self.slack)


@dataclass(frozen=True)
class FieldTarget:
    """Keep `crm_field` equal to the table's `column`; `clear`: a null new value is written
    too (computed results), otherwise null means "leave as is" (fields set by rules)."""

    column: str
    crm_field: str
    clear: bool = True


@dataclass
class ActionPlan:
    tasks: list[PlannedTask] = field(default_factory=list)
    suppressed: list[SuppressedTask] = field(default_factory=list)
    emails: list[EmailRequest] = field(default_factory=list)
    slack: list[SlackMessage] = field(default_factory=list)
    field_values: dict[str, dict[str, str]] = field(default_factory=dict)  # account → values

    def field_frame(self, fields: Sequence[str]) -> pl.DataFrame:
        """`id` and one `_set_<field>` column per field, for the accounts a rule set."""
        schema = {"id": pl.String, **{SET_PREFIX + f: pl.String for f in fields}}
        rows = [
            {"id": account, **{SET_PREFIX + f: v for f, v in values.items()}}
            for account, values in self.field_values.items()
        ]
        return pl.DataFrame(rows, schema=schema, orient="row")


SET_PREFIX = "_set_"


def plan_field_updates(table: pl.DataFrame, targets: Sequence[FieldTarget]) -> list[RecordUpdate]:
    """One update per account whose wanted values differ from the CRM's current values.

    New values are cast to the CRM field's type before comparing (and that cast value is what
    gets written), so 72.0 vs 72 or a date vs its ISO text is never a change.
    """
    new_values = [
        pl.col(t.column)
        .cast(table.schema[CURRENT_PREFIX + t.crm_field])
        .alias(f"_new_{t.crm_field}")
        for t in targets
    ]
    changed_flags = []
    for t in targets:
        new, current = pl.col(f"_new_{t.crm_field}"), pl.col(CURRENT_PREFIX + t.crm_field)
        changed = new.ne_missing(current)
        changed_flags.append(
            (changed if t.clear else changed & new.is_not_null()).alias(f"_changed_{t.crm_field}")
        )
    flagged = (
        table.with_columns(new_values)
        .with_columns(changed_flags)
        .filter(pl.any_horizontal(r"^_changed_.*$"))
    )
    updates = []
    for row in flagged.iter_rows(named=True):
        changes = tuple(
            FieldChange(t.crm_field, row[CURRENT_PREFIX + t.crm_field], row[f"_new_{t.crm_field}"])
            for t in targets
            if row[f"_changed_{t.crm_field}"]
        )
        updates.append(RecordUpdate(row["id"], row["name"], changes))
    return updates


def plan_actions(
    table: pl.DataFrame,
    firings: pl.DataFrame,
    rules: Sequence[Rule],
    existing: Mapping[str, ExistingTask],
    recent: Sequence[ExistingTask],
    *,
    as_of: date,
    assign_to: str,
    status: str,
) -> ActionPlan:
    """Every action of every firing: tasks that are not duplicates and not cooling down,
    fields to set, and messages to send.

    `existing`: tasks with the firings' exact keys. `recent`: the rules' tasks that are open
    or were completed within the longest cooldown (read back from the CRM, so a task the CSM
    closed there counts). Fields are set whenever the rule fires; the diff keeps that quiet.
    """
    by_id = {rule.id: rule for rule in rules}
    earlier = _by_rule_and_account(recent)
    rows = _with_action_conditions(
        table.join(firings, left_on="id", right_on="account_id", how="inner"), rules
    )
    plan = ActionPlan()
    for row in rows.iter_rows(named=True):
        rule = by_id[row["rule_id"]]
        this_period = {
            action_key(rule.id, row["id"], row["period"], i) for i in range(len(rule.actions))
        }
        others = [t for t in earlier.get((rule.id, row["id"]), []) if t.key not in this_period]
        blocker = _blocked(rule, _latest(others), as_of)
        for index, action in enumerate(rule.actions):
            if action.when is not None and not row[_condition_column(rule.id, index)]:
                continue
            key = action_key(rule.id, row["id"], row["period"], index)
            if action.set_fields is not None:
                values = plan.field_values.setdefault(row["id"], {})
                values.update({f: render(v, row) for f, v in action.set_fields.items()})
                continue
            reason = blocker
            if action.create_task is not None:
                reason = _duplicate(existing.get(key)) or blocker
            elif action.send_email is not None and key in existing:
                reason = "already sent (logged in the CRM)"
            if reason:
                plan.suppressed.append(SuppressedTask(key, rule.id, row["name"], reason))
            elif action.create_task is not None:
                plan.tasks.append(
                    _task(action.create_task, key, rule, row, as_of, assign_to, status)
                )
            elif action.send_email is not None:
                email = action.send_email
                plan.emails.append(EmailRequest(key, rule.id, email.template, email.to_role, row))
            elif action.post_to_slack is not None:
                plan.slack.append(SlackMessage(key, render(action.post_to_slack.text, row)))
    return plan


def _task(
    task: CreateTask,
    key: str,
    rule: Rule,
    row: dict[str, Any],
    as_of: date,
    assign_to: str,
    status: str,
) -> PlannedTask:
    return PlannedTask(
        key=key,
        rule_id=rule.id,
        account_id=row["id"],
        account_name=row["name"],
        assignee_id=row[task.assignee(row.get("touch_tier")) or assign_to] or row["owner_id"],
        subject=render(task.subject, row),
        description=render(task.description, row),
        due_date=as_of + timedelta(days=task.due_in_days),
        priority=task.priority,
        status=status,
    )


def _condition_column(rule_id: str, index: int) -> str:
    return f"_when_{rule_id}_{index}"


def _with_action_conditions(rows: pl.DataFrame, rules: Sequence[Rule]) -> pl.DataFrame:
    """Each action's own `when`, evaluated over every firing row at once."""
    conditions = [
        compile_sql(action.when, rows.columns).fill_null(False).alias(_condition_column(rule.id, i))
        for rule in rules
        for i, action in enumerate(rule.actions)
        if action.when is not None
    ]
    return rows.with_columns(conditions) if conditions else rows


def _by_rule_and_account(
    tasks: Sequence[ExistingTask],
) -> dict[tuple[str, str], list[ExistingTask]]:
    grouped: dict[tuple[str, str], list[ExistingTask]] = {}
    for task in tasks:
        grouped.setdefault(task.rule_and_account, []).append(task)
    return grouped


def _latest(tasks: Sequence[ExistingTask]) -> ExistingTask | None:
    """An open task if there is one, else the last completed: what blocks a new period."""
    open_tasks = [t for t in tasks if not t.is_closed]
    if open_tasks:
        return open_tasks[0]
    return max(tasks, key=lambda t: t.completed_on or date.min, default=None)


def _duplicate(task: ExistingTask | None) -> str | None:
    if task is None:
        return None
    return f"already created for this period ({'closed' if task.is_closed else 'open'} task)"


def _blocked(rule: Rule, task: ExistingTask | None, as_of: date) -> str | None:
    if task is None:
        return None
    if not task.is_closed:
        return "an earlier task of this rule is still open"
    if task.completed_on and rule.cooldown_days:
        until = task.completed_on + timedelta(days=rule.cooldown_days)
        if as_of < until:
            return (
                f"cooling down until {until.isoformat()} (last task completed "
                f"{task.completed_on.isoformat()})"
            )
    return None


def candidate_keys(firings: pl.DataFrame, rules: Sequence[Rule]) -> list[str]:
    """Keys of every action the firings would create; the CRM is asked which exist."""
    task_actions = {  # tasks, and emails (logged as tasks under their key)
        rule.id: [
            i
            for i, action in enumerate(rule.actions)
            if action.create_task is not None or action.send_email is not None
        ]
        for rule in rules
    }
    return [
        action_key(rule_id, account_id, period, index)
        for rule_id, account_id, period in firings.iter_rows()
        for index in task_actions[rule_id]
    ]
