"""Task outcomes: what a run learnt about the tasks the worker creates — the ones it just
created and the keyed tasks it read anyway — as rows for the history store's
`task_outcomes`, from which the report computes completion rates and health after a task.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date

import polars as pl

from connector.config.playbook import Rule
from connector.crm.protocol import ExistingTask, TaskIntent, WriteResult
from connector.store import TASK_OUTCOME_SCHEMA


def task_only_rules(rules: Sequence[Rule]) -> frozenset[str]:
    """Rules whose keyed activities can only be tasks (no email log shares their keys), so
    any keyed task read for them is one the worker created, even one the store never saw."""
    return frozenset(
        rule.id
        for rule in rules
        if any(a.create_task is not None for a in rule.actions)
        and not any(a.send_email is not None for a in rule.actions)
    )


def task_outcomes(
    created: Sequence[TaskIntent],
    written: WriteResult,
    read: Iterable[ExistingTask],
    followed: Collection[str],
    rules: Collection[str],
    as_of: date,
) -> pl.DataFrame:
    """Rows of `TASK_OUTCOME_SCHEMA`: the tasks created now (not refused in `written`, no
    email logs; with the id the CRM's answer gave), and the tasks read whose key the store
    `followed` or whose rule is one of `rules` (`task_only_rules`), as the CRM has them: its
    creation date (else `as_of`), owner and completion date. A closed task's completion
    date is kept; an open one has none."""
    rows: dict[str, tuple[object, ...]] = {}
    for task in read:
        if task.key in rows:  # read twice: found by its key and among the recent
            continue
        rule_id, account_id = task.rule_and_account
        if task.key in followed or rule_id in rules:
            completed = task.completed_on if task.is_closed else None
            created_on = task.created_on or as_of
            rows[task.key] = (
                task.key,
                rule_id,
                account_id,
                task.record_id,
                task.owner_id,
                created_on,
                task.is_closed,
                completed,
            )
    refused = {failure.record for failure in written.failures}
    for intent in created:
        if intent.is_email_log or intent.key in refused or intent.key in rows:
            continue
        rows[intent.key] = (
            intent.key,
            intent.rule_id,
            intent.account_id,
            written.task_ids.get(intent.key),
            intent.assignee_id,
            as_of,
            False,
            None,
        )
    return pl.DataFrame(list(rows.values()), schema=TASK_OUTCOME_SCHEMA, orient="row")
