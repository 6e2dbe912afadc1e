"""Every example rule in playbooks/ fires for exactly the right demo accounts.

The expected sets are computed here, independently of the engine, straight from the records
and usage rows the sandbox was seeded with: a week without a row is a week of zero activity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from connector.run import RunOutcome, run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.usage_api import UsageRow
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, ROOT

CUSTOMERS = 150
LEVEL = "licensed_seats"  # the shipped mappings' one level: a state, not activity
THIS_WEEK = AS_OF - timedelta(days=AS_OF.weekday())  # the demo's weeks start on Monday


@dataclass(frozen=True)
class Customer:
    """What a CSM would look at to decide by hand whether an alert is due."""

    id: str
    start: date
    weeks: list[dict[str, float]]  # newest first, from THIS_WEEK back; no row: all zero
    days_silent: int
    renewal: date | None
    open_expansions: int
    last_decision_maker_meeting: date | None

    def sum4(self, metric: str) -> float:
        return sum(week[metric] for week in self.weeks[:4])

    def total(self, metric: str) -> float:
        return sum(week[metric] for week in self.weeks)

    def now(self, metric: str, weeks_ago: int = 0) -> float:
        return self.weeks[weeks_ago][metric]

    def weeks_falling(self, metric: str) -> int:
        count = 0
        while count + 1 < len(self.weeks) and (
            self.weeks[count][metric] < self.weeks[count + 1][metric]
        ):
            count += 1
        return count

    def months_since_start(self) -> int:
        months = (AS_OF.year - self.start.year) * 12 + AS_OF.month - self.start.month
        return months - (self.start.day > AS_OF.day)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path_factory.mktemp("examples"), as_of=AS_OF, customers=CUSTOMERS, project_dir=ROOT
    ) as running:
        yield running


def _weeks(rows: list[UsageRow], metrics: list[str], window_weeks: int) -> list[dict[str, float]]:
    """A tenant's weeks, newest first, from THIS_WEEK back to its first row; the weeks
    without a row are zero activity with the seats last reported (a level). No row at all:
    the whole window is zero activity, seats unknown."""
    by_week = {r.week_start: {k: float(v) for k, v in r.metrics.items()} for r in rows}
    first = min(by_week, default=THIS_WEEK - timedelta(weeks=window_weeks))
    weeks: list[dict[str, float]] = []
    seats = float("nan")
    for n in reversed(range((THIS_WEEK - first).days // 7 + 1)):  # oldest first, to carry
        week = by_week.get(THIS_WEEK - timedelta(weeks=n)) or {
            **dict.fromkeys(metrics, 0.0),
            LEVEL: seats,
        }
        seats = week[LEVEL]
        weeks.append(week)
    return weeks[::-1]


def _days_silent(rows: list[UsageRow], window_weeks: int) -> int:
    """Days from the Sunday that ends the last week with any activity to AS_OF; no
    activity in the window: the window's length."""
    used = [r.week_start for r in rows if any(v != 0 for k, v in r.metrics.items() if k != LEVEL)]
    if not used:
        return window_weeks * 7
    return max(0, (AS_OF - (max(used) + timedelta(days=6))).days)


@pytest.fixture(scope="module")
def customers(demo: RunningSandbox) -> list[Customer]:
    org = demo.org
    window, metrics = demo.settings.usage_history_weeks, list(demo.usage_rows[0].metrics)
    rows: dict[str, list[UsageRow]] = {}
    since = AS_OF - timedelta(weeks=window)  # what a run reads: not the older history
    for row in demo.usage_rows:
        if since <= row.week_start <= AS_OF:
            rows.setdefault(row.account_key, []).append(row)
    deciders = {c["Id"] for c in org.records("Contact") if c["CS_Role__c"] == "Decision Maker"}
    met: dict[str, date] = {}
    for event in org.records("Event"):
        day = datetime.fromisoformat(str(event["StartDateTime"]).replace("+0000", "+00:00")).date()
        if event["WhoId"] in deciders and day <= AS_OF:
            met[event["WhatId"]] = max(day, met.get(event["WhatId"], day))
    open_opps = [o for o in org.records("Opportunity") if not o["IsClosed"]]
    result = []
    for account in org.records("Account"):
        if account["Type"] != "Customer":
            continue
        renewals = [
            date.fromisoformat(o["CloseDate"])
            for o in open_opps
            if o["AccountId"] == account["Id"] and o["Type"] == "Renewal"
        ]
        tenant = rows.get(account["Product_Tenant_Id__c"], [])
        result.append(
            Customer(
                id=account["Id"],
                start=date.fromisoformat(account["Contract_Start_Date__c"]),
                weeks=_weeks(tenant, metrics, window),
                days_silent=_days_silent(tenant, window),
                renewal=min(renewals, default=None),
                open_expansions=sum(
                    1
                    for o in open_opps
                    if o["AccountId"] == account["Id"] and o["Type"] == "Expansion"
                ),
                last_decision_maker_meeting=met.get(account["Id"]),
            )
        )
    return result


@pytest.fixture(scope="module")
def first_run(demo: RunningSandbox) -> RunOutcome:
    return run_sync(demo.settings, dry_run=True)


def _fired(outcome: RunOutcome, rule_id: str) -> set[str]:
    """Accounts the rule fired for: a task today or on a later day (the daily limit), or one
    not created (an email instead, a task already there)."""
    planned = [*outcome.plan.tasks, *outcome.plan.deferred]
    return {t.account_id for t in planned if t.rule_id == rule_id} | {
        s.key.rsplit(":", 2)[1] for s in outcome.plan.suppressed if s.rule_id == rule_id
    }


EXPECTED: dict[str, Callable[[Customer], bool]] = {
    "low-scouting": lambda c: c.now("scouts_sent") < 20 and c.now("licensed_seats") >= 5,
    "low-interview-rate": lambda c: (
        c.sum4("scouts_sent") >= 20 and c.sum4("interviews_held") / c.sum4("scouts_sent") < 0.1
    ),
    "tenure-check-in": lambda c: c.months_since_start() >= 3 and c.months_since_start() % 3 == 0,
    "upsell-power-user": lambda c: (
        c.sum4("scouts_sent") >= 320 and c.sum4("reports_exported") >= 12 and c.open_expansions == 0
    ),
    "logins-falling": lambda c: c.weeks_falling("logins") >= 3,
    "tenant-silent": lambda c: c.days_silent >= 14,
    "champion-change": lambda c: (
        c.sum4("new_users") >= 4 and c.now("admin_logins") == 0 and c.now("admin_logins", 1) == 0
    ),
    "onboarding-gap": lambda c: (
        30 <= (AS_OF - c.start).days <= 120 and c.total("reports_exported") == 0
    ),
    "pricing-intent": lambda c: (
        c.sum4("pricing_page_views") > 0 or c.sum4("material_downloads") > 0
    ),
    "no-decision-maker-meeting": lambda c: (
        c.last_decision_maker_meeting is None or (AS_OF - c.last_decision_maker_meeting).days > 90
    ),
    "renewal-90-days": lambda c: c.renewal is not None and 0 <= (c.renewal - AS_OF).days <= 90,
}


@pytest.mark.parametrize("rule_id", sorted(EXPECTED))
def test_example_rule_fires_for_exactly_the_right_accounts(
    rule_id: str, customers: list[Customer], first_run: RunOutcome
) -> None:
    expected = {c.id for c in customers if EXPECTED[rule_id](c)}
    assert expected, f"the demo company must give {rule_id} something to fire on"
    assert len(expected) < len(customers), f"{rule_id} must not fire for everyone"
    assert _fired(first_run, rule_id) == expected


def test_stage_dwell_fires_after_two_months_in_onboarding(
    tmp_path: Path, customers: list[Customer]
) -> None:
    with running_sandbox(tmp_path, as_of=AS_OF, customers=CUSTOMERS, project_dir=ROOT) as sandbox:
        run_sync(sandbox.settings, dry_run=False)
        onboarding = {
            a["Id"]
            for a in sandbox.org.records("Account")
            if a.get("CS_Journey_Stage__c") == "Onboarding"
        }
        later = sandbox.settings.model_copy(
            update={"as_of_date": AS_OF + timedelta(61), "usage_history_weeks": 20}
        )
        sandbox.usage.shift_weeks(61 // 7)  # the same usage: only the dwell clock moves
        outcome = run_sync(later, dry_run=True)
        tenants = {a["Id"]: a["Product_Tenant_Id__c"] for a in sandbox.org.records("Account")}
    # the twenty weeks that run reads reach into the demo's older history
    read_from = AS_OF + timedelta(61) - timedelta(weeks=20 + 61 // 7)
    exported = {
        r.account_key
        for r in sandbox.usage_rows
        if read_from <= r.week_start <= AS_OF and r.metrics["reports_exported"]
    }
    expected = {c.id for c in customers if c.id in onboarding and tenants[c.id] not in exported}
    assert expected
    assert _fired(outcome, "stuck-in-onboarding") == expected


def test_health_drop_fires_on_a_fall_into_red_or_by_15_points(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, as_of=AS_OF, customers=CUSTOMERS, project_dir=ROOT) as sandbox:
        run_sync(sandbox.settings, dry_run=False)
        scored = [
            a for a in sandbox.org.records("Account") if a.get("CS_Health_Score__c") is not None
        ]
        # a month ago, every other account scored 20 points higher, the rest 5 points higher
        baseline = {
            a["Id"]: a["CS_Health_Score__c"] + (20 if i % 2 else 5) for i, a in enumerate(scored)
        }
        version = scored[0]["CS_Health_Model_Version__c"]  # scored by today's model
        store = HistoryStore.open(sandbox.settings.state_database_url.get_secret_value())
        store.save_snapshots("seeded", AS_OF - timedelta(30), _snapshot(baseline, version), [])
        store.close()
        outcome = run_sync(sandbox.settings, dry_run=True)
    expected = {
        a["Id"]
        for a in scored
        if baseline[a["Id"]] - a["CS_Health_Score__c"] >= 15
        or (a["CS_Health_Color__c"] == "Red" and baseline[a["Id"]] >= 45)
    }
    assert 0 < len(expected) < len(scored)
    assert _fired(outcome, "health-drop") == expected


def _snapshot(scores: dict[str, float], model_version: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(scores),
            "health_score": list(scores.values()),
            "health_color": [None] * len(scores),
            "health_model_version": [model_version] * len(scores),
        },
        schema={
            "id": pl.String,
            "health_score": pl.Float64,
            "health_color": pl.String,
            "health_model_version": pl.String,
        },
    )


def test_tenure_check_ins_go_on_every_quarter_past_the_first_year(
    customers: list[Customer], first_run: RunOutcome
) -> None:
    months = {c.id: c.months_since_start() for c in customers}
    fired = _fired(first_run, "tenure-check-in")
    assert {15, 24} <= {months[a] for a in fired}, "later check-ins and an anniversary"
    planned = [*first_run.plan.tasks, *first_run.plan.deferred]
    subjects = {t.subject for t in planned if t.rule_id == "tenure-check-in"}
    for account in fired:
        name = next(t.account_name for t in planned if t.account_id == account)
        n = months[account]
        if n % 12 == 0:
            assert f"{n // 12}-year anniversary check-in with {name}" in subjects
        else:
            assert f"{n}-month check-in with {name}" in subjects
