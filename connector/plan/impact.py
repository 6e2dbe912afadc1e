"""The impact of a configuration change: two plans (and their evaluations) of the same data,
and what the second adds, removes and alters — tasks by rule and by owner, emails, Slack
posts, and the accounts whose health colour, touch tier or journey stage moves. Pure: the
same two plans in, the same impact out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from connector.crm.protocol import TaskIntent
from connector.messages.email import Addressed, Email
from connector.plan.model import Plan

MOVES = ("health_color", "touch_tier", "journey_stage")  # what an account can move between
PEOPLE = (("owner_id", "owner_name"), ("csm_id", "csm_name"))  # id → name, for assignees
T = TypeVar("T")


@dataclass(frozen=True)
class Change:
    """One task, email or post the head configuration adds, removes or alters."""

    change: str  # added, removed, altered
    key: str
    rule_id: str
    account_name: str
    owner: str  # the assignee's (or sender's) name, or their id when the table has none
    detail: str  # altered: what differs, "subject: a → b"


@dataclass(frozen=True)
class Move:
    """An account whose value of `what` (a MOVES column) differs between the two."""

    what: str
    account_id: str
    account_name: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Impact:
    tasks: tuple[Change, ...]
    emails: tuple[Change, ...]
    slack: tuple[Change, ...]
    moves: tuple[Move, ...]

    def added_tasks_per_owner(self) -> Counter[str]:
        return Counter(c.owner for c in self.tasks if c.change == "added")

    def count(self, changes: Sequence[Change], change: str) -> int:
        return sum(c.change == change for c in changes)

    @property
    def is_empty(self) -> bool:
        return not (self.tasks or self.emails or self.slack or self.moves)


@dataclass(frozen=True)
class Side:
    """One configuration's outcome on the data: its plan and its evaluated account table."""

    plan: Plan
    table: pl.DataFrame


def compare(base: Side, head: Side) -> Impact:
    """What `head` does differently from `base` on the same data. Tasks include those the
    daily limit defers: a change is judged by all it asks for, not by one day's share."""
    names = _people(base.table, head.table)
    return Impact(
        tasks=tuple(_diff(_tasks(base.plan), _tasks(head.plan), _task_fields, names)),
        emails=tuple(_diff(_emails(base.plan), _emails(head.plan), _email_fields, names)),
        slack=tuple(
            _diff(
                {m.key: m for m in base.plan.slack},
                {m.key: m for m in head.plan.slack},
                lambda m: {"rule_id": "", "account_name": "", "owner": "", "text": m.text},
                names,
            )
        ),
        moves=tuple(_moves(base.table, head.table)),
    )


def _tasks(plan: Plan) -> dict[str, TaskIntent]:
    return {t.key: t for t in (*plan.tasks, *plan.deferred)}


def _emails(plan: Plan) -> dict[str, Email | Addressed]:
    """Every email due: those written and those waiting past the run's cap (unwritten)."""
    emails: dict[str, Email | Addressed] = {e.key: e for e in plan.emails}
    return emails | {e.key: e for e in plan.emails_waiting}


def _task_fields(task: TaskIntent) -> dict[str, str]:
    return {
        "rule_id": task.rule_id,
        "account_name": task.account_name,
        "owner": task.assignee_id,
        "subject": task.subject,
        "due": task.due_date.isoformat(),
        "priority": task.priority,
    }


def _email_fields(email: Email | Addressed) -> dict[str, str | None]:
    """What an email is compared by; a waiting email's subject is unknown (None): it is
    not written until a run sends it, and an unknown value never counts as altered."""
    if isinstance(email, Addressed):
        request, subject = email.request, None
        sender, template, to_role = email.sender.user_id, request.template, request.to_role
    else:
        sender, template, to_role = email.sender_id, email.template, email.to_role
        subject = email.subject
    return {
        "rule_id": email.rule_id,
        "account_name": email.account_name,
        "owner": sender,
        "template": template,
        "to": to_role,
        "subject": subject,
    }


def _diff(
    base: Mapping[str, T],
    head: Mapping[str, T],
    fields: Callable[[T], Mapping[str, str | None]],
    names: Mapping[str, str],
) -> list[Change]:
    """Added and removed by key; altered where a key is in both but a field differs (a
    field unknown on either side, None, is not compared)."""
    changes = []
    for key in sorted(base.keys() | head.keys()):
        before = fields(base[key]) if key in base else None
        after = fields(head[key]) if key in head else None
        shown = after or before
        assert shown is not None
        if before is None:
            change, detail = "added", ""
        elif after is None:
            change, detail = "removed", ""
        elif differs := [
            n for n in after if None not in (before[n], after[n]) and before[n] != after[n]
        ]:
            change = "altered"
            detail = "; ".join(f"{name}: {before[name]} → {after[name]}" for name in differs)
        else:
            continue
        rule_id, account, owner = (
            str(shown[n] or "") for n in ("rule_id", "account_name", "owner")
        )
        changes.append(Change(change, key, rule_id, account, names.get(owner, owner), detail))
    return changes


def _people(*tables: pl.DataFrame) -> dict[str, str]:
    """CRM user id → name, from the owner and CSM columns the account table has."""
    names: dict[str, str] = {}
    for table in tables:
        for id_column, name_column in PEOPLE:
            if id_column in table.columns and name_column in table.columns:
                pairs = table.select(id_column, name_column).drop_nulls().unique()
                names.update(dict(pairs.iter_rows()))
    return names


def _moves(base: pl.DataFrame, head: pl.DataFrame) -> list[Move]:
    """Accounts whose colour, tier or stage differs, for the columns both tables have."""
    moves = []
    for what in MOVES:
        if what not in base.columns or what not in head.columns:
            continue
        joined = base.select("id", "name", pl.col(what).alias("before")).join(
            head.select("id", pl.col(what).alias("after")), on="id", how="inner"
        )
        moved = joined.filter(pl.col("before").ne_missing(pl.col("after"))).sort("name", "id")
        moves += [
            Move(what, row["id"], row["name"], _text(row["before"]), _text(row["after"]))
            for row in moved.iter_rows(named=True)
        ]
    return moves


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Limits:
    """What RevOps lets a change do before `plan --compare` fails; None: no limit."""

    new_tasks_per_owner: int | None = None
    new_tasks: int | None = None
    new_emails: int | None = None


def over_limits(impact: Impact, limits: Limits) -> list[str]:
    """Each limit the change exceeds, as a sentence; empty if none."""
    found = []
    if limits.new_tasks_per_owner is not None:
        found += [
            f"{owner} gets {count} new task{'s' if count != 1 else ''} "
            f"(limit {limits.new_tasks_per_owner} a person)"
            for owner, count in sorted(impact.added_tasks_per_owner().items())
            if count > limits.new_tasks_per_owner
        ]
    added_tasks, added_emails = (
        impact.count(impact.tasks, "added"),
        impact.count(impact.emails, "added"),
    )
    if limits.new_tasks is not None and added_tasks > limits.new_tasks:
        found.append(f"{added_tasks} new tasks (limit {limits.new_tasks})")
    if limits.new_emails is not None and added_emails > limits.new_emails:
        found.append(f"{added_emails} new emails (limit {limits.new_emails})")
    return found
