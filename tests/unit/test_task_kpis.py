"""Task completion, time to close and health after a task, on a book computed by hand.

As of 2026-03-15 (March is partial), rules low-usage, renewal and quiet (no tasks):
  t0  low-usage  E  u1  created 2025-12-20, completed 2025-12-22  (before the months shown)
  t1  low-usage  A  u1  created 2026-01-05, completed the same day            (0 days)
  t2  low-usage  B  u2  created 2026-01-10, never completed
  t3  low-usage  C  u1  created 2026-01-20, completed 2026-02-09 (after January ended: 20 days)
  t4  renewal    A  u1  created 2026-02-03, completed 2026-02-13            (10 days)
  t5  renewal    B  u2  created 2026-03-02, completed 2026-03-20 (after the as-of date: open)
  t6  low-usage  D  —   created 2026-03-10, open
  t7  renewal    C  u2  created 2026-02-20, completed 2026-03-01            (9 days)
"""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.report.kpis import UNKNOWN, periods
from connector.report.task_kpis import (
    health_after_tasks,
    owner_names,
    task_completion,
    tasks_by_rule,
)
from connector.store import TASK_OUTCOME_SCHEMA

D = date
AS_OF = D(2026, 3, 15)
RULES = ["low-usage", "quiet", "renewal"]
OUTCOMES = pl.DataFrame(
    [
        ("t0", "low-usage", "E", "1", "u1", D(2025, 12, 20), True, D(2025, 12, 22)),
        ("t1", "low-usage", "A", "2", "u1", D(2026, 1, 5), True, D(2026, 1, 5)),
        ("t2", "low-usage", "B", "3", "u2", D(2026, 1, 10), False, None),
        ("t3", "low-usage", "C", "4", "u1", D(2026, 1, 20), True, D(2026, 2, 9)),
        ("t4", "renewal", "A", "5", "u1", D(2026, 2, 3), True, D(2026, 2, 13)),
        ("t5", "renewal", "B", "6", "u2", D(2026, 3, 2), True, D(2026, 3, 20)),
        ("t6", "low-usage", "D", "7", None, D(2026, 3, 10), False, None),
        ("t7", "renewal", "C", "8", "u2", D(2026, 2, 20), True, D(2026, 3, 1)),
    ],
    schema=TASK_OUTCOME_SCHEMA,
    orient="row",
)
SNAPSHOTS = pl.DataFrame(
    {
        "account_id": ["A", "A", "A", "A", "C", "C", "C"],
        "snapshot_date": [
            D(2026, 1, 5),
            D(2026, 2, 4),
            D(2026, 2, 10),
            D(2026, 3, 12),
            D(2026, 2, 9),
            D(2026, 3, 1),
            D(2026, 3, 28),  # after the as-of date: not known yet
        ],
        "health_score": [40.0, 55.0, 50.0, 45.0, 70.0, 60.0, 80.0],
    }
)
MONTHS = periods(D(2026, 1, 1), AS_OF, "month")


def test_completion_per_rule_and_month_of_creation() -> None:
    table = task_completion(OUTCOMES, RULES, MONTHS, AS_OF)

    assert table.columns == [
        "rule_id",
        "period",
        "complete",
        "group",
        "tasks",
        "completed",
        "open",
        "completion_rate",
        "median_days_to_close",
    ]
    assert table.drop("group").rows() == [
        # t1 the same day (0) and t3 after January ended (20) count for January; t2 is open
        ("low-usage", "2026-01", True, 3, 2, 1, 2 / 3, 10.0),
        ("low-usage", "2026-02", True, 0, 0, 0, None, None),
        ("low-usage", "2026-03", False, 1, 0, 1, 0.0, None),
        # a rule with no tasks: no rate, never 0%
        ("quiet", "2026-01", True, 0, 0, 0, None, None),
        ("quiet", "2026-02", True, 0, 0, 0, None, None),
        ("quiet", "2026-03", False, 0, 0, 0, None, None),
        ("renewal", "2026-01", True, 0, 0, 0, None, None),
        ("renewal", "2026-02", True, 2, 2, 0, 1.0, 9.5),
        # t5 is completed after the as-of date: still open on it
        ("renewal", "2026-03", False, 1, 0, 1, 0.0, None),
    ]


def test_completion_per_quarter_leaves_out_tasks_before_the_first_period() -> None:
    quarters = periods(D(2026, 1, 1), AS_OF, "quarter")

    table = task_completion(OUTCOMES, RULES, quarters, AS_OF)

    assert table.select("rule_id", "period", "complete", "tasks", "completed").rows() == [
        ("low-usage", "2026-Q1", False, 4, 2),  # t0 was created in 2025-Q4
        ("quiet", "2026-Q1", False, 0, 0),
        ("renewal", "2026-Q1", False, 3, 2),
    ]


def test_completion_per_owner_of_the_task_by_name_where_known() -> None:
    snapshots = pl.DataFrame(
        {
            "account_id": ["A", "A"],
            "snapshot_date": [D(2026, 1, 1), D(2026, 2, 1)],
            "owner_id": ["u1", "u1"],
            "owner_name": ["Aiko Old", "Aiko"],  # the latest name
        }
    )
    names = owner_names(snapshots)

    table = task_completion(OUTCOMES, RULES, MONTHS, AS_OF, by_owner=names)

    assert table.select("rule_id", "period", "group", "tasks", "completed").rows() == [
        ("low-usage", "2026-01", "Aiko", 2, 2),
        ("low-usage", "2026-01", "u2", 1, 0),  # no name known: the id
        ("low-usage", "2026-03", UNKNOWN, 1, 0),
        ("renewal", "2026-02", "Aiko", 1, 1),
        ("renewal", "2026-02", "u2", 1, 1),
        ("renewal", "2026-03", "u2", 1, 0),
    ]
    assert owner_names(SNAPSHOTS).height == 0  # snapshots without owners


def test_health_change_thirty_days_after_completion() -> None:
    table = health_after_tasks(OUTCOMES, SNAPSHOTS, AS_OF)

    assert table.drop("rule_id", "account_id").rows() == [
        ("t0", D(2025, 12, 22), None, None, None),  # no snapshot of E at all
        ("t1", D(2026, 1, 5), 40.0, 55.0, 15.0),  # the same day, and 02-04
        ("t3", D(2026, 2, 9), 70.0, None, None),  # 03-01 is 10 days before 03-11: too old
        ("t4", D(2026, 2, 13), 50.0, 45.0, -5.0),  # 02-10 and 03-12, within 7 days of each
        ("t7", D(2026, 3, 1), 60.0, None, None),  # 03-31 is after the as-of date
    ]


def test_per_rule_totals_with_the_health_change() -> None:
    health = health_after_tasks(OUTCOMES, SNAPSHOTS, AS_OF)

    table = tasks_by_rule(OUTCOMES, health, RULES, AS_OF)

    assert table.rows(named=False) == [
        ("low-usage", 5, 3, 2, 0.6, 2.0, 1, 15.0, 15.0),
        ("quiet", 0, 0, 0, None, None, 0, None, None),
        ("renewal", 3, 2, 1, 2 / 3, 9.5, 1, -5.0, -5.0),
    ]
    assert table.columns[-3:] == ["measured", "average_health_change", "median_health_change"]


def test_an_empty_store_has_rows_for_every_rule_and_no_rate() -> None:
    empty = OUTCOMES.clear()

    table = task_completion(empty, ["quiet"], MONTHS, AS_OF)
    totals = tasks_by_rule(empty, health_after_tasks(empty, SNAPSHOTS, AS_OF), ["quiet"], AS_OF)

    assert table["tasks"].to_list() == [0, 0, 0]
    assert table["completion_rate"].null_count() == 3
    assert totals.rows() == [("quiet", 0, 0, 0, None, None, 0, None, None)]
