"""Keyed tasks held as a frame answer as the dict and list of tasks they stand for: the same
keys, tasks and narrower asks, whether a CRM answered with a frame or with objects."""

from __future__ import annotations

import tracemalloc
from dataclasses import astuple
from datetime import date

import polars as pl
import pytest

from connector.crm.protocol import ExistingTask
from connector.crm.task_rows import TASK_SCHEMA, TaskRows, TasksByKey, task_frame
from connector.plan.state import TaskState

SINCE = date(2026, 11, 10)
TASKS = [
    ExistingTask("call:001:a", "00T1", False, None, "005A", date(2026, 11, 1)),
    ExistingTask("call:002:b", "00T2", True, date(2026, 11, 12), "005A", date(2026, 11, 2)),
    ExistingTask("call:003:c", "00T3", True, date(2026, 11, 9), "005B", None),  # cooled
    ExistingTask("call:004:d", "00T4", True, None, None, None),  # closed, no date
    ExistingTask("renew:001:e", "00T5", False, None, "005B", date(2026, 11, 3)),
    ExistingTask("re:new:001:f", "00T6", False, None, "005B", date(2026, 11, 3)),
]


def test_a_frame_of_tasks_is_a_mapping_by_key_and_a_list() -> None:
    frame = task_frame(TASKS)
    by_key, rows = TasksByKey(frame), TaskRows(frame)

    assert frame.rows() == [astuple(task) for task in TASKS]
    assert by_key == {task.key: task for task in TASKS}
    assert list(by_key) == [task.key for task in TASKS]
    assert "call:002:b" in by_key
    assert "CALL:002:B" not in by_key
    with pytest.raises(KeyError):
        by_key["call:009:z"]
    assert rows == TASKS
    assert rows[1:3] == TASKS[1:3]
    assert task_frame(by_key) is by_key.frame
    assert task_frame({task.key: task for task in TASKS}).equals(frame)


def test_a_narrower_ask_of_a_frame_answers_as_of_the_tasks() -> None:
    """Open, or completed on or after the day; of the rules asked (a rule id may hold ':')."""
    as_objects = TaskState({}, TASKS, frozenset(), SINCE)
    as_frame = TaskState({}, TaskRows(task_frame(TASKS)), frozenset(), SINCE)

    for rules in (["call"], ["re:new", "renew"], []):
        expected = [
            task
            for task in TASKS
            if task.rule_and_account[0] in rules
            and (not task.is_closed or (task.completed_on or date.min) >= SINCE)
        ]
        assert as_frame.recent_of(rules, SINCE) == expected
        assert as_objects.recent_of(rules, SINCE) == expected

    assert [t.key for t in as_frame.recent_of(["call"], SINCE)] == ["call:001:a", "call:002:b"]


def test_tasks_by_key_makes_no_python_string_a_task_until_a_key_is_asked_about() -> None:
    """A run's 200,000 keyed tasks are used as a frame; a set of their keys as Python
    strings (~27 MB) is made only when `in` asks for one."""
    keys = pl.Series([f"renew:{n:06d}:0123456789abcdef" for n in range(100_000)])
    frame = pl.DataFrame({"key": keys}).select(
        pl.col("key"),
        *(pl.lit(None, dtype).alias(n) for n, dtype in TASK_SCHEMA.items() if n != "key"),
    )
    tracemalloc.start()
    try:
        by_key = TasksByKey(frame)
        made, _ = tracemalloc.get_traced_memory()
        assert "renew:000042:0123456789abcdef" in by_key
        asked, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert made < 1_000_000
    assert asked > 5_000_000
