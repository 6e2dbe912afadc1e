"""The whole plan as tables, one a kind of side effect, for `plan --output`: what RevOps
reviews row by row (or loads into a spreadsheet) is the plan a real run applies, never a
second derivation of it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import polars as pl

from connector.crm.protocol import TaskIntent
from connector.messages.email_log import Outcome
from connector.plan.model import Plan

T = TypeVar("T")

FIELD_CHANGES = {
    "object": pl.String,
    "record_id": pl.String,
    "account": pl.String,
    "field": pl.String,
    "old": pl.String,
    "new": pl.String,
}
TASKS = {
    "key": pl.String,
    "rule": pl.String,
    "account_id": pl.String,
    "account": pl.String,
    "owner_id": pl.String,
    "subject": pl.String,
    "due_date": pl.Date,
    "priority": pl.String,
    "status": pl.String,
}
EMAILS = {
    "key": pl.String,
    "action": pl.String,  # send; wait (past the run's cap); complete a stopped run's log
    "rule": pl.String,
    "template": pl.String,
    "account_id": pl.String,
    "account": pl.String,
    "recipient_role": pl.String,
    "recipient_contact_id": pl.String,
    "sender_id": pl.String,
    "sender_email": pl.String,
    "locale": pl.String,
    "subject": pl.String,
}
SLACK = {"key": pl.String, "text": pl.String}
NOT_DONE = {
    "kind": pl.String,  # deferred, suppressed, email_not_sent, held, skipped
    "key": pl.String,
    "rule": pl.String,
    "account": pl.String,
    "reason": pl.String,
}
WAITING = "wait"  # past EMAIL_RUN_CAP: written and sent by a later run
SETTLED = {Outcome.SENT: "complete log: sent", Outcome.UNKNOWN: "complete log: outcome unknown"}


def plan_tables(plan: Plan, account_object: str) -> dict[str, pl.DataFrame]:
    """Kind → its rows: `field_changes`, `tasks`, `emails`, `slack` and `not_done` (each
    suppressed, deferred or held action and each skipped rule, with its reason)."""
    return {
        "field_changes": _frame(
            FIELD_CHANGES,
            (
                [account_object, u.record_id, u.label, c.field, _text(c.old), _text(c.new)]
                for u in plan.updates
                for c in u.changes
            ),
        ),
        "tasks": _frame(
            TASKS,
            (_task_row(t) for t in plan.tasks),
        ),
        "emails": _frame(EMAILS, _emails(plan)),
        "slack": _frame(SLACK, ([m.key, m.text] for m in plan.slack)),
        "not_done": _frame(NOT_DONE, _not_done(plan)),
    }


def _task_row(t: TaskIntent) -> list[Any]:
    return [
        t.key,
        t.rule_id,
        t.account_id,
        t.account_name,
        t.assignee_id,
        t.subject,
        t.due_date,
        t.priority,
        t.status,
    ]


def _emails(plan: Plan) -> Iterable[list[Any]]:
    settled = [(s.email, SETTLED[s.outcome]) for s in plan.emails_settled]
    for email, action in [*((e, "send") for e in plan.emails), *settled]:
        yield [
            email.key,
            action,
            email.rule_id,
            email.template,
            email.account_id,
            email.account_name,
            email.to_role,
            email.to_contact_id,
            email.sender_id,
            email.from_email,
            email.locale,
            email.subject,
        ]
    for letter in plan.emails_waiting:  # written when a run sends them: no locale, subject
        request = letter.request
        yield [
            letter.key,
            WAITING,
            letter.rule_id,
            request.template,
            request.row["id"],
            letter.account_name,
            request.to_role,
            letter.contact["id"],
            letter.sender.user_id,
            letter.sender.email,
            None,
            None,
        ]


def _not_done(plan: Plan) -> Iterable[list[Any]]:
    limit = plan.volume.limit if plan.volume is not None else 0
    later = f"over the daily limit of {limit} new tasks a person: created on a later day"
    yield from (["deferred", t.key, t.rule_id, t.account_name, later] for t in plan.deferred)
    yield from (["suppressed", s.key, s.rule_id, s.account_name, s.reason] for s in plan.suppressed)
    yield from (
        ["email_not_sent", e.key, e.rule_id, e.request.row.get("name"), e.reason]
        for e in plan.emails_skipped
    )
    settled = {s.email.key for s in plan.emails_settled}
    held = "may have been delivered (its answer was lost): not sent again blindly"
    yield from (["held", key, None, None, held] for key in plan.held if key not in settled)
    yield from (
        ["skipped", None, s.rule_id, s.account_name, f"{s.where}: {s.reason}"] for s in plan.skipped
    )


def _frame(schema: dict[str, Any], rows: Iterable[list[Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=schema, orient="row")


def _text(value: T | None) -> str | None:
    return None if value is None else str(value)
