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

from connector.config.playbook import Rule
from connector.engine.rules import action_key
from connector.frame import CURRENT_PREFIX
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
    skipped: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.updates and not self.tasks


def plan_field_updates(table: pl.DataFrame, results: Mapping[str, str]) -> list[RecordUpdate]:
    """One update per account whose computed results differ from the CRM's current values.

    New values are cast to the CRM field's type before comparing (and that cast value is what
    gets written), so 72.0 vs 72 or a date vs its ISO text is never a change.
    """
    new_values = [
        pl.col(column).cast(table.schema[CURRENT_PREFIX + crm_field]).alias(f"_new_{crm_field}")
        for column, crm_field in results.items()
    ]
    changed_flags = [
        pl.col(f"_new_{crm_field}")
        .ne_missing(pl.col(CURRENT_PREFIX + crm_field))
        .alias(f"_changed_{crm_field}")
        for crm_field in results.values()
    ]
    flagged = (
        table.with_columns(new_values)
        .with_columns(changed_flags)
        .filter(pl.any_horizontal(r"^_changed_.*$"))
    )
    updates = []
    for row in flagged.iter_rows(named=True):
        changes = tuple(
            FieldChange(crm_field, row[CURRENT_PREFIX + crm_field], row[f"_new_{crm_field}"])
            for crm_field in results.values()
            if row[f"_changed_{crm_field}"]
        )
        updates.append(RecordUpdate(row["id"], row["name"], changes))
    return updates


def plan_tasks(
    table: pl.DataFrame,
    firings: pl.DataFrame,
    rules: Sequence[Rule],
    existing: Mapping[str, ExistingTask],
    recent: Sequence[ExistingTask],
    *,
    as_of: date,
    assign_to: str,
    status: str,
) -> tuple[list[PlannedTask], list[SuppressedTask]]:
    """Render a task for every firing that is not a duplicate and not cooling down.

    `existing`: tasks with the firings' exact keys. `recent`: the rules' tasks that are open
    or were completed within the longest cooldown (read back from the CRM, so a task the CSM
    closed there counts).
    """
    by_id = {rule.id: rule for rule in rules}
    latest = _latest_by_rule_and_account(recent)
    rows = table.join(firings, left_on="id", right_on="account_id", how="inner")
    planned: list[PlannedTask] = []
    suppressed: list[SuppressedTask] = []
    for row in rows.iter_rows(named=True):
        rule = by_id[row["rule_id"]]
        blocker = _blocked(rule, latest.get((rule.id, row["id"])), as_of)
        for index, action in enumerate(rule.actions):
            key = action_key(rule.id, row["id"], row["period"], index)
            reason = _duplicate(existing.get(key)) or blocker
            if reason:
                suppressed.append(SuppressedTask(key, rule.id, row["name"], reason))
                continue
            task = action.create_task
            planned.append(
                PlannedTask(
                    key=key,
                    rule_id=rule.id,
                    account_id=row["id"],
                    account_name=row["name"],
                    assignee_id=row[task.assignee(row.get("touch_tier")) or assign_to]
                    or row["owner_id"],
                    subject=render(task.subject, row),
                    description=render(task.description, row),
                    due_date=as_of + timedelta(days=task.due_in_days),
                    priority=task.priority,
                    status=status,
                )
            )
    return planned, suppressed


def _latest_by_rule_and_account(
    tasks: Sequence[ExistingTask],
) -> dict[tuple[str, str], ExistingTask]:
    """Per rule and account, an open task if there is one, else the last completed."""
    latest: dict[tuple[str, str], ExistingTask] = {}
    for task in tasks:
        pair = task.rule_and_account
        held = latest.get(pair)
        if (
            held is None
            or not task.is_closed
            or (
                held.is_closed and (task.completed_on or date.min) > (held.completed_on or date.min)
            )
        ):
            latest[pair] = task
    return latest


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
    actions = {rule.id: len(rule.actions) for rule in rules}
    return [
        action_key(rule_id, account_id, period, index)
        for rule_id, account_id, period in firings.iter_rows()
        for index in range(actions[rule_id])
    ]
