"""The API budget guard's arithmetic: what a phase will spend, and when it may not start."""

from __future__ import annotations

import math
from datetime import date

import pytest

from connector.crm.protocol import ApiUsage, FieldChange, FieldUpdate, TaskIntent
from connector.errors import ApiBudgetExhausted, ApiBudgetShareReached
from connector.messages.email import Email, EmailRequest, SkippedEmail
from connector.messages.email_log import Outcome, SettledEmail
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


class Batches:
    """A CRM's write costs as the adapters state them: a call per batch of `size`."""

    def __init__(self, size: int) -> None:
        self.size = size

    def write_calls(self, records: int) -> int:
        return math.ceil(records / self.size)


def _email(number: int) -> Email:
    return Email(
        f"renewal:001{number:05d}:abc",
        "renewal",
        f"001{number:05d}",
        "Acme",
        "005A",
        "Ann",
        "ann@example.com",
        "Bob",
        "bob@example.com",
        "003A",
        "en",
        "Renewal",
        "Hello",
        None,
    )


def _skipped(number: int) -> SkippedEmail:
    request = EmailRequest(f"welcome:001{number:05d}:abc", "welcome", "w", "user", {})
    return SkippedEmail(request, "opted out")


def _settled(number: int) -> SettledEmail:
    return SettledEmail(_email(number), Outcome.SENT)


def test_writes_cost_a_call_per_batch_of_updates_and_of_tasks() -> None:
    plan = Plan(updates=tuple(map(_update, range(450))), tasks=tuple(map(_task, range(201))))

    assert budget.write_calls(plan, Batches(200), None) == 3 + 2
    assert budget.write_calls(plan, Batches(100), None) == 5 + 3
    assert budget.write_calls(Plan(), Batches(200), None) == 0


def test_emails_cost_two_calls_each_only_when_they_are_sent() -> None:
    plan = Plan(
        emails=tuple(map(_email, range(30))),
        emails_skipped=tuple(map(_skipped, range(3))),
        emails_settled=tuple(map(_settled, range(2))),
    )
    crm = Batches(100)

    # no SMTP relay: nothing is sent and nothing skipped is logged; the settled logs are
    # completed in one batch
    assert budget.write_calls(plan, crm, None) == 1
    # the caps leave room for 10: two calls each, and the logs of the rest in a batch
    assert budget.write_calls(plan, crm, 10) == 2 * 10 + 1
    assert budget.write_calls(plan, crm, 0) == 1


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
