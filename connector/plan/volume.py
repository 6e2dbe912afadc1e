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

import polars as pl

from connector.ordered import taken
from connector.plan.model import TaskIntents, TaskVolume
from connector.workdays import Workdays

PRIORITY_ORDER = {"High": 0, "Normal": 1, "Low": 2}
ARR = "arr"  # the column of a task's account's ARR, which ranks it


def limit_per_assignee(
    tasks: list[pl.DataFrame],
    *,
    limit: int,
    created_today: Mapping[str, int],
    working_day: bool,
    listed_by: Sequence[str] = (),
) -> tuple[TaskIntents, TaskIntents]:
    """Today's tasks and the deferred ones, each in order of urgency: priority, ARR at
    risk (largest first, unknown last), due date, key. `tasks`: the task actions' tasks
    (`TASK_SCHEMA`'s columns and `ARR`), emptied as they are taken into the two a column at
    a time (`taken`): a first run's 200,000 were held twice while sorted, where its
    planning peaked. `limit` 0: no limit. `created_today`: assignee → tasks of these rules
    created today already. `listed_by`: today's are listed by these columns instead (as a
    plan lists them), put in that order as they are taken, not sorted again after."""

    def today_and_deferred(whole: pl.DataFrame) -> list[pl.Series]:
        arr = pl.col(ARR)
        order = whole.select(
            pl.arg_sort_by(
                pl.col("priority").replace_strict(PRIORITY_ORDER, default=len(PRIORITY_ORDER)),
                arr.is_null(),
                -arr.fill_null(0.0),
                "due_date",
                "key",
                maintain_order=True,
            )
        ).to_series()
        if limit == 0:
            return [listed(whole, order), order.clear()]
        given = pl.col("assignee_id").replace_strict(
            dict(created_today) or {"": 0}, default=0, return_dtype=pl.Int64
        )
        nth = pl.int_range(pl.len()).over("assignee_id")  # the assignee's earlier ones
        queue = whole.select(pl.col("assignee_id").gather(order))
        room = queue.select((given + nth < limit) & working_day).to_series()
        return [listed(whole, order.filter(room)), order.filter(~room)]

    def listed(whole: pl.DataFrame, today: pl.Series) -> pl.Series:
        if not listed_by:
            return today
        rows = whole.select(pl.col(*listed_by).gather(today))
        return today.gather(rows.select(pl.arg_sort_by(listed_by, maintain_order=True)).to_series())

    today, deferred = taken(tasks, today_and_deferred)
    return TaskIntents(today.drop(ARR)), TaskIntents(deferred.drop(ARR))


def spread(
    today: TaskIntents,
    deferred: TaskIntents,
    *,
    limit: int,
    as_of: date,
    workdays: Workdays,
) -> TaskVolume:
    """How many tasks the run wants, how many it creates today, and over how many working
    days after today the rest follow at the limit (if nothing new fires meanwhile)."""
    per_person = Counter(deferred.rows["assignee_id"].to_list())
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
