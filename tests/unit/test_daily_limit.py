"""No one gets more new tasks a working day than the limit: the most urgent first, the rest
deferred to later days — never lost, never twice."""

from __future__ import annotations

import re
from datetime import date, timedelta

import polars as pl
from rich.console import Console

from connector.cli.output import print_plan
from connector.config.playbook import Rule
from connector.crm.protocol import ActionKey, ExistingTask, TaskIntent
from connector.plan.actions import plan_actions
from connector.plan.model import TASKS_LISTED_BY, Plan, TaskIntents, TaskVolume
from connector.plan.volume import ARR, limit_per_assignee, spread
from connector.workdays import Workdays

MONDAY = date(2026, 11, 23)  # in Japan, 勤労感謝の日


def _task(key: str, assignee: str = "u1", priority: str = "Normal", due: int = 3) -> TaskIntent:
    return TaskIntent(
        key=key,
        rule_id="r",
        account_id=key,
        account_name=key,
        assignee_id=assignee,
        subject=key,
        description="",
        due_date=MONDAY + timedelta(days=due),
        priority=priority,
        status="Not Started",
    )


def _wanted(
    tasks: list[TaskIntent], arr: dict[str, float | None] | None = None
) -> list[pl.DataFrame]:
    """The tasks as the planner ranks them: their columns and their account's ARR, in two
    parts as two task actions make them."""
    arr = arr or {}
    ranked = TaskIntents.of(tasks).rows
    ranked = ranked.with_columns(pl.Series(ARR, [arr.get(t.key) for t in tasks], pl.Float64))
    half = ranked.height // 2
    return [ranked[:half], ranked[half:]]


def test_the_most_urgent_come_first_priority_then_arr_then_due_date_then_key() -> None:
    tasks = [
        _task("low-big", priority="Low"),
        _task("normal-small"),
        _task("normal-unknown-arr"),
        _task("normal-big-late", due=9),
        _task("normal-big-b"),
        _task("normal-big-a"),
        _task("high-small", priority="High"),
    ]
    arr = {
        "low-big": 500_000.0,
        "normal-small": 1_000.0,
        "normal-unknown-arr": None,
        "normal-big-late": 90_000.0,
        "normal-big-b": 90_000.0,
        "normal-big-a": 90_000.0,
        "high-small": 1_000.0,
    }
    today, deferred = limit_per_assignee(
        _wanted(tasks, arr), limit=4, created_today={}, working_day=True
    )
    assert [t.key for t in today] == [
        "high-small",
        "normal-big-a",
        "normal-big-b",
        "normal-big-late",
    ]
    assert [t.key for t in deferred] == ["normal-small", "normal-unknown-arr", "low-big"]


def test_todays_tasks_are_chosen_by_urgency_and_listed_as_a_plan_lists_them() -> None:
    """The plan lists today's by rule, account and key: put in that order as they are
    taken, the same as sorting the most urgent after; the deferred stay most urgent first."""
    tasks = [
        _task("b-low", "ann", priority="Low"),
        _task("c-high", "ann", priority="High"),
        _task("a-normal", "ann"),
        _task("d-high", "bob", priority="High"),
        _task("e-normal", "bob", due=5),
        _task("f-normal", "bob"),
    ]
    urgent, later = limit_per_assignee(_wanted(tasks), limit=2, created_today={}, working_day=True)
    listed, deferred = limit_per_assignee(
        _wanted(tasks),
        limit=2,
        created_today={},
        working_day=True,
        listed_by=TASKS_LISTED_BY,
    )

    assert [t.key for t in urgent] == ["c-high", "d-high", "a-normal", "f-normal"]
    assert [t.key for t in listed] == ["a-normal", "c-high", "d-high", "f-normal"]
    assert listed.rows.equals(urgent.rows.sort(TASKS_LISTED_BY, maintain_order=True))
    assert [t.key for t in deferred] == [t.key for t in later] == ["e-normal", "b-low"]


def test_the_limit_is_per_person_and_counts_what_was_created_today() -> None:
    tasks = [_task(f"a{i}", "ann") for i in range(5)] + [_task(f"b{i}", "bob") for i in range(2)]
    today, deferred = limit_per_assignee(
        _wanted(tasks), limit=3, created_today={"ann": 1}, working_day=True
    )
    assert [t.key for t in today] == ["a0", "a1", "b0", "b1"]
    assert [t.key for t in deferred] == ["a2", "a3", "a4"]


def test_no_limit_creates_everything_and_a_day_off_creates_nothing() -> None:
    tasks = [_task(f"a{i}") for i in range(30)]
    assert limit_per_assignee(_wanted(tasks), limit=0, created_today={}, working_day=False)[1] == []
    today, deferred = limit_per_assignee(
        _wanted(tasks), limit=15, created_today={}, working_day=False
    )
    assert (len(today), len(deferred)) == (0, 30)


def test_the_plan_says_how_the_limit_spreads_the_rest() -> None:
    """554 tasks for 6 people: 90 today, then at 15 a person a working day."""
    wanted = [_task(f"t{n:03d}", f"csm{n % 6}") for n in range(554)]
    today, deferred = limit_per_assignee(
        _wanted(wanted), limit=15, created_today={}, working_day=True
    )
    friday = date(2026, 11, 20)
    volume = spread(today, deferred, limit=15, as_of=friday, workdays=Workdays("JP"))
    # 93 or 92 a person: 15 today, 78 or 77 over 6 more working days (Monday is a holiday)
    assert volume == TaskVolume(
        limit=15,
        wanted=554,
        today=90,
        deferred=464,
        people_at_limit=6,
        working_days=6,
        last_day=date(2026, 12, 1),
    )
    # on a Saturday none is created: 93 a person from Tuesday, 15 a day, to the next Wednesday
    saturday = spread(
        TaskIntents.of([]),
        TaskIntents.of(wanted),
        limit=15,
        as_of=date(2026, 11, 21),
        workdays=Workdays("JP"),
    )
    assert (saturday.today, saturday.working_days, saturday.working_day) == (0, 7, False)
    assert saturday.last_day == date(2026, 12, 2)


RULE = Rule.model_validate(
    {
        "id": "silent",
        "description": "d",
        "when": "true",
        "period": "run_week",
        "cooldown_days": 30,
        "actions": [{"create_task": {"subject": "Call {{ name }}", "priority": "High"}}],
    }
)
TABLE = pl.DataFrame(
    {
        "id": ["a", "b", "c"],
        "name": ["Acme", "Beta", "Cobalt"],
        "owner_id": ["ann", "ann", "ann"],
        "arr": [10_000.0, 90_000.0, 50_000.0],
    }
)
FIRINGS = pl.DataFrame(
    {"rule_id": ["silent"] * 3, "account_id": ["a", "b", "c"], "period": ["2026-W48"] * 3}
)


def _day(
    day: date, existing: dict[str, ExistingTask], recent: list[ExistingTask]
) -> tuple[list[str], list[str]]:
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [RULE],
        existing,
        recent,
        as_of=day,
        assign_to="owner_id",
        status="Not Started",
        tasks_per_day=2,
    )
    return [t.account_name for t in plan.tasks], [t.account_name for t in plan.deferred]


def test_a_deferred_task_is_created_the_next_day_not_held_back_by_the_others() -> None:
    """The two created on Monday are open, of the same rule and period: they count toward
    Monday's limit, and on Tuesday they neither block nor cool down the one deferred."""
    assert _day(MONDAY, {}, []) == (["Beta", "Cobalt"], ["Acme"])
    made = {
        str(ActionKey.of("silent", account, "2026-W48", 0)): ExistingTask(
            str(ActionKey.of("silent", account, "2026-W48", 0)),
            f"00T{account}",
            False,
            owner_id="ann",
            created_on=MONDAY,
        )
        for account in ("b", "c")
    }
    recent = list(made.values())
    assert _day(MONDAY, made, recent) == ([], ["Acme"])  # a rerun: Monday's 2 are taken
    assert _day(MONDAY + timedelta(days=1), made, recent) == (["Acme"], [])


def test_the_printed_plan_lists_the_deferred_and_how_they_spread() -> None:
    wanted = [_task(f"t{n:03d}", f"csm{n % 6}") for n in range(554)]
    today, deferred = limit_per_assignee(
        _wanted(wanted), limit=15, created_today={}, working_day=True
    )
    volume = spread(today, deferred, limit=15, as_of=date(2026, 11, 20), workdays=Workdays("JP"))
    console = Console(record=True, width=200)

    print_plan(
        console, Plan(tasks=tuple(today), deferred=tuple(deferred), volume=volume), dry_run=True
    )

    text = console.export_text()
    assert (
        "Daily limit: 554 new tasks wanted; 90 today, the other 464 over the next 6 working days "
        "(the last on 2026-12-01) at 15 a person a day, the most urgent first (6 people at the "
        "limit)."
    ) in text
    assert re.search(r"│ r\s+│ 90\s+│ 464\s+│ 0\s+│", text)  # tasks by rule: new, deferred
    assert "Deferred" in text
    assert "… and 456 more deferred tasks." in text


def test_on_a_day_off_the_plan_says_none_today() -> None:
    wanted = [_task(f"t{n}", "ann") for n in range(20)]
    saturday = date(2026, 11, 21)
    today, deferred = limit_per_assignee(
        _wanted(wanted), limit=15, created_today={}, working_day=False
    )
    volume = spread(today, deferred, limit=15, as_of=saturday, workdays=Workdays("JP"))
    console = Console(record=True, width=200)
    print_plan(console, Plan(deferred=tuple(deferred), volume=volume), dry_run=True)
    assert (
        "Daily limit: 20 new tasks wanted; none today (a day off), all 20 over the next 2 "
        "working days (the last on 2026-11-25)"
    ) in console.export_text()
