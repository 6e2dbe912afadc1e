"""The API budget guard's arithmetic: what a phase will spend, and when it may not start."""

from __future__ import annotations

from datetime import date

import pytest

from connector.crm.protocol import ApiUsage, FieldChange, FieldUpdate, TaskIntent
from connector.errors import ApiBudgetExhausted, ApiBudgetShareReached
from connector.plan import budget
from connector.plan.model import Plan


def _update(number: int) -> FieldUpdate:
    return FieldUpdate(f"001{number:05d}", f"Account {number}", (FieldChange("Score", 1, 2),))


def _task(number: int) -> TaskIntent:
    return TaskIntent(
        f"rule:001{number:05d}:abc",
        "rule",
        f"001{number:05d}",
        "Acme",
        "005A",
        "Call",
        "Please call",
        date(2026, 11, 23),
        "Normal",
        "Not Started",
    )


def test_writes_cost_a_call_per_batch_of_updates_and_of_tasks() -> None:
    plan = Plan(updates=tuple(map(_update, range(450))), tasks=tuple(map(_task, range(201))))

    assert budget.write_calls(plan, max_batch=200) == 3 + 2
    assert budget.write_calls(plan, max_batch=100) == 5 + 3
    assert budget.write_calls(Plan(), max_batch=200) == 0


@pytest.mark.parametrize(
    ("previous", "queries", "expected"),
    [
        (None, 4, 4),  # a first run (or a lost store): a page per query at least
        ({"crm_read_calls": 57}, 4, 57),  # what the last run's reads took
        ({"crm_read_calls": 2}, 4, 4),
        ({"accounts_read": 10}, 4, 4),  # a summary from before the count was kept
    ],
)
def test_reads_cost_what_the_last_run_read(
    previous: dict[str, int] | None, queries: int, expected: int
) -> None:
    assert budget.read_calls(previous, queries) == expected


def test_a_phase_that_fits_the_share_may_start() -> None:
    usage = ApiUsage(used_today=7_400, daily_limit=15_000)

    budget.guard(usage, "writes", 100, share=0.5)  # 7,500: exactly the share


def test_a_phase_past_the_share_stops_with_the_numbers() -> None:
    usage = ApiUsage(used_today=7_400, daily_limit=15_000)

    with pytest.raises(ApiBudgetShareReached) as raised:
        budget.guard(usage, "writes", 101, share=0.5)

    assert isinstance(raised.value, ApiBudgetExhausted)  # exit 6, transient
    assert raised.value.transient
    message = str(raised.value)
    assert "Stopped before the writes" in message
    assert "about 101 API calls" in message
    assert "used 7,400 of its 15,000 daily calls" in message
    assert "up to 7,500 (API_BUDGET_SHARE=0.5)" in message


def test_a_crm_that_never_said_its_allowance_is_not_guarded() -> None:
    budget.guard(ApiUsage(), "reads", 1_000_000, share=0.1)
