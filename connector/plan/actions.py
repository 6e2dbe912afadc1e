"""Actions: each firing's tasks, field values and messages, deduplicated against the CRM.

Pure: the same firings and the same tasks read back from the CRM give the same actions, so a
second run with no data change plans nothing. A template that fails for one account (a value
it did not expect) skips that action for that account only; an action condition that fails
on the run's data skips that action; both are reported in the plan with their `file:line`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl

from connector.config.playbook import CreateTask, Rule
from connector.crm.protocol import ActionKey, ExistingTask, TaskIntent
from connector.engine.expressions import POLARS_ERRORS, compile_sql, explain
from connector.engine.rules import RuleSources, Skipped
from connector.errors import TemplateError
from connector.language import DEFAULT_LANGUAGE, Language, LocalText, text_in
from connector.messages.email import EmailRequest
from connector.messages.slack import SlackMessage
from connector.plan.model import ActionPlan, SuppressedTask
from connector.plan.volume import limit_per_assignee, spread
from connector.templates import TASK_TEXT_LIMIT, render
from connector.workdays import Workdays


class _TemplateFailed(Exception):
    """One of an action's templates failed for one account: `part` is where, under it."""

    def __init__(self, part: tuple[str, ...], error: TemplateError) -> None:
        super().__init__(str(error))
        self.part, self.error = part, error


WEEKDAYS = Workdays()  # Monday to Friday, no holidays: what a team that set none works


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
    sources: RuleSources | None = None,
    skipped: Sequence[Skipped] = (),
    workdays: Workdays = WEEKDAYS,
    language: Language = DEFAULT_LANGUAGE,
    tasks_per_day: int = 0,
    currency: str | None = None,
) -> ActionPlan:
    """Every action of every firing: tasks that are not duplicates and not cooling down,
    fields to set, and messages to send.

    `existing`: tasks with the firings' exact keys. `recent`: the rules' tasks that are open
    or were completed within the longest cooldown (read back from the CRM, so a task the CSM
    closed there counts). Fields are set whenever the rule fires; the diff keeps that quiet.
    `sources`: where the rules are, to report a failing template or condition at its line;
    `skipped`: what evaluation already left out, carried into the plan's report.
    `workdays`: tasks fall due `due_in_days` working days after `as_of`.
    `language`: the CS team's, in which task and Slack texts are written; `currency`: the
    one their `money` amounts are in (None: the language's usual one).
    `tasks_per_day`: new tasks a person gets a working day, the most urgent first (counting
    those of these keys created today); the rest are deferred. 0: no limit.
    """
    by_id = {rule.id: rule for rule in rules}
    earlier = _by_rule_and_account(recent)
    sources = sources or RuleSources({})
    plan = ActionPlan(skipped=list(skipped))
    created_today: Counter[str] = Counter()  # assignee → tasks of these keys created today
    arr: dict[str, float | None] = {}  # task key → the account's ARR, to rank by
    rows = _with_action_conditions(
        table.join(firings, left_on="id", right_on="account_id", how="inner"),
        rules,
        sources,
        plan,
    )
    for row in rows.iter_rows(named=True):
        rule = by_id[row["rule_id"]]
        this_period = {
            str(ActionKey.of(rule.id, row["id"], row["period"], i))
            for i in range(len(rule.actions))
        }
        others = [t for t in earlier.get((rule.id, row["id"]), []) if t.key not in this_period]
        blocker = _blocked(rule, _latest(others), as_of)
        for index, action in enumerate(rule.actions):
            if action.when is not None and not row[_condition_column(rule.id, index)]:
                continue
            key = str(ActionKey.of(rule.id, row["id"], row["period"], index))
            try:
                if action.set_fields is not None:
                    fields = {
                        f: _text(("set_fields", f), v, row, language, currency)
                        for f, v in action.set_fields.items()
                    }
                    plan.field_values.setdefault(row["id"], {}).update(fields)
                    continue
                reason = blocker
                if action.create_task is not None:
                    found = existing.get(key)
                    if found is not None and found.created_on == as_of:
                        who = found.owner_id or _assignee(action.create_task, row, assign_to)
                        created_today[who] += 1
                    reason = _duplicate(found) or blocker
                elif action.send_email is not None and key in existing:
                    # an open log is an email a stopped run left part-way: finished now
                    reason = "already done (logged in the CRM)" if existing[key].is_closed else ""
                if reason:
                    plan.suppressed.append(SuppressedTask(key, rule.id, row["name"], reason))
                elif action.create_task is not None:
                    due = workdays.add(as_of, action.create_task.due_in_days)
                    task = action.create_task
                    plan.tasks.append(
                        _task(task, key, rule, row, due, (assign_to, status), language, currency)
                    )
                    arr[key] = row.get("arr")
                elif action.send_email is not None:
                    email = action.send_email
                    plan.emails.append(
                        EmailRequest(
                            key,
                            rule.id,
                            email.template,
                            email.to_role,
                            row,
                            logged=key in existing,
                            sender=email.from_,
                        )
                    )
                elif action.post_to_slack is not None:
                    text = _text(
                        ("post_to_slack", "text"),
                        action.post_to_slack.text,
                        row,
                        language,
                        currency,
                    )
                    plan.slack.append(SlackMessage(key, text))
            except _TemplateFailed as failed:
                where = sources.where(rule.id, ("actions", index, *failed.part), failed.error.line)
                reason = f"not done for this account (the other actions were): {failed.error}"
                plan.skipped.append(Skipped(rule.id, where, reason, row["name"]))
    plan.tasks, plan.deferred = limit_per_assignee(
        plan.tasks,
        limit=tasks_per_day,
        created_today=created_today,
        arr=arr,
        working_day=workdays.is_working_day(as_of),
    )
    if tasks_per_day:
        plan.volume = spread(
            plan.tasks, plan.deferred, limit=tasks_per_day, as_of=as_of, workdays=workdays
        )
    return plan


def _text(
    part: tuple[str, ...],
    text: LocalText,
    row: dict[str, Any],
    language: Language,
    currency: str | None = None,
) -> str:
    """One of an action's templates, in the team's language, rendered for `row`; a failure
    says which one (and which language's text)."""
    if isinstance(text, dict) and language in text:
        part = (*part, language)
    try:
        return render(
            text_in(text, language),
            row,
            limit=TASK_TEXT_LIMIT,
            language=language,
            currency=currency,
        )
    except TemplateError as exc:
        raise _TemplateFailed(part, exc) from None


def _task(
    task: CreateTask,
    key: str,
    rule: Rule,
    row: dict[str, Any],
    due: date,
    assign_to_and_status: tuple[str, str],
    language: Language,
    currency: str | None,
) -> TaskIntent:
    assign_to, status = assign_to_and_status
    return TaskIntent(
        key=key,
        rule_id=rule.id,
        account_id=row["id"],
        account_name=row["name"],
        assignee_id=_assignee(task, row, assign_to),
        subject=_text(("create_task", "subject"), task.subject, row, language, currency),
        description=_text(
            ("create_task", "description"), task.description, row, language, currency
        ),
        due_date=due,
        priority=task.priority,
        status=status,
    )


def _assignee(task: CreateTask, row: dict[str, Any], assign_to: str) -> str:
    """The user who gets the task: the rule's column for the account's tier, else the
    mapping's `assign_to`; the owner when that column is empty."""
    user: str = row[task.assignee(row.get("touch_tier")) or assign_to] or row["owner_id"]
    return user


def _condition_column(rule_id: str, index: int) -> str:
    return f"_when_{rule_id}_{index}"


def _with_action_conditions(
    rows: pl.DataFrame, rules: Sequence[Rule], sources: RuleSources, plan: ActionPlan
) -> pl.DataFrame:
    """Each action's own `when`, evaluated over every firing row at once. Only if that fails
    is each condition tried alone: one that fails on this run's data is false for every
    account, and reported."""
    conditions = {
        (rule.id, i, action.when): compile_sql(action.when, rows.columns).fill_null(False)
        for rule in rules
        for i, action in enumerate(rule.actions)
        if action.when is not None
    }
    named = [expr.alias(_condition_column(r, i)) for (r, i, _), expr in conditions.items()]
    try:
        return rows.with_columns(named) if named else rows
    except POLARS_ERRORS:
        pass
    for (rule_id, i, sql), expr in conditions.items():
        try:
            rows = rows.with_columns(expr.alias(_condition_column(rule_id, i)))
        except POLARS_ERRORS as exc:
            rows = rows.with_columns(pl.lit(False).alias(_condition_column(rule_id, i)))
            plan.skipped.append(
                Skipped(
                    rule_id,
                    sources.where(rule_id, ("actions", i, "when")),
                    f"the action was left out of this run: {explain(sql, exc, rows.schema)}",
                )
            )
    return rows


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


def candidate_keys(table: pl.DataFrame, firings: pl.DataFrame, rules: Sequence[Rule]) -> list[str]:
    """Keys of every task and email (logged as a task under its key) the firings would
    create; the CRM is asked which exist. An action whose own `when` is false for an account
    creates nothing there, so its key is not asked about (on HubSpot each unknown key costs
    reading its company's tasks)."""
    rows = table.join(firings, left_on="id", right_on="account_id", how="inner")
    keys: list[str] = []
    for rule in rules:
        fired = rows.filter(pl.col("rule_id") == rule.id)
        for index, action in enumerate(rule.actions):
            if action.create_task is None and action.send_email is None:
                continue
            try:
                taken = _where(fired, action.when)
            except POLARS_ERRORS:
                continue  # plan_actions leaves the action out of this run, and reports it
            keys += [
                str(ActionKey.of(rule.id, account_id, period, index))
                for account_id, period in taken.select("id", "period").iter_rows()
            ]
    return keys


def _where(rows: pl.DataFrame, when: str | None) -> pl.DataFrame:
    return rows if when is None else rows.filter(compile_sql(when, rows.columns).fill_null(False))
