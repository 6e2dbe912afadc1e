"""A plan holds its field updates and tasks as columns: a first run of 100,000 accounts
plans 1.1 million field changes and 200,000 tasks, which as objects held 270 MB until the
writes were done. A record is made only when it is read, and reads the same as before."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta

import polars as pl
import pytest

from connector.crm.protocol import FieldChange, FieldUpdate, TaskIntent
from connector.plan.actions import plan_actions
from connector.plan.fields import plan_field_updates
from connector.plan.model import FieldTarget, TaskIntents
from tests.unit.test_plan import _rule

ACCOUNTS = 20_000
AS_OF = date(2026, 11, 23)
RESULTS = [FieldTarget("health_score", "Score__c"), FieldTarget("health_color", "Color__c")]
RULE = _rule()  # a task for every account: "Renew {{ name }}", "ARR {{ arr | number }}"


def _book(accounts: int) -> pl.DataFrame:
    """A first run's table: every account has a score and a colour the CRM has not."""
    return pl.DataFrame(
        {
            "id": [f"001{i:015d}" for i in range(accounts)],
            "name": [f"Account {i}" for i in range(accounts)],
            "owner_id": [f"005{i % 40:015d}" for i in range(accounts)],
            "arr": [12_000.0] * accounts,  # one value: the texts' number cache stays small
            "health_score": [float(i % 100) for i in range(accounts)],
            "health_color": [("Red", "Yellow", "Green")[i % 3] for i in range(accounts)],
            "_current_Score__c": pl.Series([None] * accounts, dtype=pl.Float64),
            "_current_Color__c": pl.Series([None] * accounts, dtype=pl.String),
        }
    )


def _held_by_python(make: Callable[[], object]) -> tuple[object, int]:
    """What `make` returns, and the bytes of Python objects still allocated once it has."""
    tracemalloc.start()
    try:
        made = make()
        return made, tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_field_updates_hold_no_object_per_record() -> None:
    table = _book(ACCOUNTS)
    updates, held = _held_by_python(lambda: plan_field_updates(table, RESULTS))
    assert len(updates) == ACCOUNTS  # type: ignore[arg-type]
    assert held < 20 * ACCOUNTS  # as objects: about 440 bytes a record


def _tasks(table: pl.DataFrame) -> TaskIntents:
    firings = pl.DataFrame(
        {"rule_id": "renewal", "account_id": table["id"], "period": "2027-02-01"}
    )
    return plan_actions(
        table, firings, [RULE], {}, [], as_of=AS_OF, assign_to="owner_id", status="Open"
    ).tasks


def test_tasks_hold_no_object_per_record() -> None:
    _tasks(_book(10))  # the language's number formats, loaded once for the process
    table = _book(ACCOUNTS)
    tasks, held = _held_by_python(lambda: _tasks(table))
    assert len(tasks) == ACCOUNTS  # type: ignore[arg-type]
    assert held < 20 * ACCOUNTS  # as objects: about 560 bytes a record


def test_updates_read_as_records_one_at_a_time_or_a_batch_at_a_time() -> None:
    table = _book(5)
    updates = plan_field_updates(table, RESULTS)
    first = FieldUpdate(
        "001000000000000000",
        "Account 0",
        (FieldChange("Score__c", None, 0.0), FieldChange("Color__c", None, "Red")),
    )
    assert updates[0] == first
    assert updates[-1].record_id == "001000000000000004"
    assert list(updates[1:3]) == [updates[1], updates[2]]
    assert updates[3:] == [updates[3], updates[4]]
    assert list(updates) == [updates[i] for i in range(5)]
    with pytest.raises(IndexError):
        updates[5]


def test_tasks_read_back_as_the_records_they_were_made_of() -> None:
    due = AS_OF + timedelta(days=5)
    made = [
        TaskIntent(f"k{i}", "r", f"a{i}", f"A{i}", "u", "s", "d", due, "High", "Open")
        for i in range(3)
    ]
    email_log = TaskIntent("e", "r", "a", "A", "u", "s", "d", due, "Low", "Done", True, "003")
    tasks = TaskIntents.of([*made, email_log])
    assert list(tasks) == [*made, email_log]
    assert tasks[1:2] == [made[1]]
    assert tasks == TaskIntents.of([*made, email_log])
    assert tasks != TaskIntents.of(made)
