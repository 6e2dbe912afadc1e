"""The daily limit: how many new tasks each person gets a working day, the most urgent first.

A first run on a big book, or a bad week, would bury a CSM under a hundred tasks they cannot
triage. Each assignee gets at most `limit` new tasks a working day (counting those already
created today, read back from the CRM), in order of priority, then ARR at risk, then due
date, then key (so the choice is the same on every rerun). The rest are deferred, not lost:
their alerts still fire tomorrow under the same keys, and are created then if there is room.
On a day off (a weekend or a public holiday) no new task is created while a limit is set:
they would all land on the next working morning at once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date

from connector.crm.protocol import TaskIntent
from connector.plan.model import TaskVolume
from connector.workdays import Workdays

PRIORITY_ORDER = {"High": 0, "Normal": 1, "Low": 2}


def urgency(task: TaskIntent, arr: float | None) -> tuple[int, bool, float, date, str]:
    """Sort key, most urgent first: priority, ARR at risk (largest first, unknown last),
    due date, key."""
    return (
        PRIORITY_ORDER.get(task.priority, len(PRIORITY_ORDER)),
        arr is None,
        -(arr or 0.0),
        task.due_date,
        task.key,
    )


def limit_per_assignee(
    tasks: Sequence[TaskIntent],
    *,
    limit: int,
    created_today: Mapping[str, int],
    arr: Mapping[str, float | None],
    working_day: bool,
) -> tuple[list[TaskIntent], list[TaskIntent]]:
    """Today's tasks and the deferred ones, each in order of urgency. `limit` 0: no limit.
    `created_today`: assignee → tasks of these rules created today already; `arr`: task key
    → the account's ARR."""
    ordered = sorted(tasks, key=lambda task: urgency(task, arr.get(task.key)))
    if limit == 0:
        return ordered, []
    given = Counter(created_today)
    today: list[TaskIntent] = []
    deferred: list[TaskIntent] = []
    for task in ordered:
        if working_day and given[task.assignee_id] < limit:
            given[task.assignee_id] += 1
            today.append(task)
        else:
            deferred.append(task)
    return today, deferred


def spread(
    today: Sequence[TaskIntent],
    deferred: Sequence[TaskIntent],
    *,
    limit: int,
    as_of: date,
    workdays: Workdays,
) -> TaskVolume:
    """How many tasks the run wants, how many it creates today, and over how many working
    days after today the rest follow at the limit (if nothing new fires meanwhile)."""
    per_person = Counter(task.assignee_id for task in deferred)
    days = max((math.ceil(count / limit) for count in per_person.values()), default=0)
    working_today = workdays.is_working_day(as_of)
    last = None
    if days:  # workdays.add(day, 0) is `day` or, on a day off, the next working day
        last = workdays.add(as_of, days if working_today else days - 1)
    return TaskVolume(
        limit=limit,
        wanted=len(today) + len(deferred),
        today=len(today),
        deferred=len(deferred),
        people_at_limit=len(per_person),
        working_days=days,
        last_day=last,
        working_day=working_today,
    )
