"""Drive the sandbox org and usage API through simulated days: each day one `run_sync` at
06:00 Asia/Tokyo (21:00 UTC the day before, on the sandbox's clock), the invariants checked,
then the day's events at 10:00 (CSMs completing and deleting tasks, renewals closing or
slipping, an owner change), and on the edit day RevOps' model edit before the run."""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from connector.config.load import load_config
from connector.run import run_sync
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import running_sandbox
from connector.store import HistoryStore
from tests.soak.checks import INVARIANTS, Checker, Violation
from tests.soak.crm import SoakOrg
from tests.soak.script import Script, draw, usage_timeline

TOKYO = ZoneInfo("Asia/Tokyo")
FIRST_DAY = date(2026, 4, 1)  # through Golden Week, Marine Day, Mountain Day, Silver Week
RUN_AT, CSM_AT = 6, 10  # o'clock in Tokyo
ENGAGEMENT_WEIGHT = ("ja: エンゲージメント}, weight: 1}", "ja: エンゲージメント}, weight: 2}")


class InvariantBroken(AssertionError):
    """The first violation of an invariant the soak was told to stop at."""


@dataclass(frozen=True)
class SoakSize:
    customers: int
    days: int
    seed: int = 12
    tasks_per_owner_per_day: int = 3


@dataclass
class DayView:
    """What one account showed the CSM after a day's run."""

    score: float | None
    color: str | None
    trend: float | None
    stage: str | None
    tier: str | None
    new_tasks: list[str]
    events: list[str]


@dataclass
class SoakReport:
    size: SoakSize
    script: Script
    runs: int = 0
    tasks_created: int = 0
    emails_sent: int = 0
    tasks_completed: int = 0
    tasks_deleted: int = 0
    recreated_after_delete: int = 0
    seconds: float = 0.0
    violations: list[Violation] = field(default_factory=list)
    judged: Counter[str] = field(default_factory=Counter)  # what each invariant looked at
    views: dict[str, dict[date, DayView]] = field(default_factory=lambda: defaultdict(dict))
    names: dict[str, str] = field(default_factory=dict)

    def of(self, invariant: str) -> list[Violation]:
        return [v for v in self.violations if v.invariant == invariant]


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO)


def soak(
    workdir: Path, project: Path, size: SoakSize, *, stop_at: Collection[str] = INVARIANTS
) -> SoakReport:
    """Run `size.days` days; raise InvariantBroken at the first violation of an invariant in
    `stop_at` (the day and what broke), count the others."""
    started = time.perf_counter()
    clock = SandboxClock(at(FIRST_DAY, RUN_AT))
    with (
        ExitStack() as stack,
        _quiet(),
        running_sandbox(
            workdir / "state",
            as_of=FIRST_DAY,
            customers=size.customers,
            project_dir=project,
            clock=clock,
        ) as sandbox,
    ):
        org = SoakOrg(sandbox)
        customers = org.customers()
        script = draw(customers, org.csms(), FIRST_DAY, size.days, size.seed)
        timeline = usage_timeline(sandbox.usage_rows, script, size.seed)
        sandbox.usage.replace_rows(timeline)
        usage: dict[str, dict[date, dict[str, float | int]]] = defaultdict(dict)
        for row in timeline:
            usage[row.account_key][row.week_start] = dict(row.metrics)
        settings = sandbox.settings.model_copy(
            update={
                "schedule_timezone": "Asia/Tokyo",
                "holiday_country": "JP",
                "tasks_per_owner_per_day": size.tasks_per_owner_per_day,
                "as_of_date": None,
            }
        )
        url = settings.state_database_url.get_secret_value()
        config = load_config(settings.mappings_dir, settings.playbooks_dir, settings.crm)
        store = stack.enter_context(closing(HistoryStore.open(url)))
        checker = Checker(
            org,
            store,
            config,
            script,
            {c.account_id: c.tenant for c in customers},
            usage,
            size.tasks_per_owner_per_day,
        )
        report = SoakReport(size, script, names={c.account_id: c.name for c in customers})
        rng = random.Random(size.seed)
        deleted: set[str] = set()
        for number in range(size.days):
            day = script.day(number)
            events: dict[str, list[str]] = defaultdict(list)
            if number == script.model_edit_day:
                _edit_model(project)
            clock.set(at(day, RUN_AT))
            sandbox.usage.serve_until(day)
            dated = settings.model_copy(update={"as_of_date": settings.date_at(clock.now())})
            outcome = run_sync(dated, dry_run=False)
            report.runs += 1
            report.tasks_created += outcome.summary.tasks_created
            report.emails_sent += outcome.summary.emails_sent
            as_of = _recorded_as_of(store, outcome.summary.run_id)
            new = checker.after_run(day, as_of, number == script.model_edit_day)
            report.recreated_after_delete += sum(t["CS_Action_Key__c"] in deleted for t in new)
            _stop_at_first(checker.violations[len(report.violations) :], stop_at)
            report.violations = list(checker.violations)
            clock.set(at(day, CSM_AT))
            completed, gone = org.csms_work(rng, script.completes, script.deletes)
            report.tasks_completed += completed
            report.tasks_deleted += len(gone)
            deleted |= gone
            _events(org, script, day, number, events)
            _view(report, org, checker, day, new, events)
        report.judged = checker.judged
        report.seconds = round(time.perf_counter() - started, 1)
        return report


def _recorded_as_of(store: HistoryStore, run_id: str) -> date:
    """The as_of the history store recorded for the run."""
    (as_of,) = [r["as_of"] for r in store.runs() if r["run_id"] == run_id]
    return as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))


def _stop_at_first(new: list[Violation], stop_at: Collection[str]) -> None:
    for violation in new:
        if violation.invariant in stop_at:
            raise InvariantBroken(f"{violation.invariant} — {violation}")


def _edit_model(project: Path) -> None:
    """RevOps doubles the Engagement weight (as test_crm_contract's model-edit test does)."""
    health = project / "playbooks" / "health.yaml"
    shipped = health.read_text()
    edited = shipped.replace(*ENGAGEMENT_WEIGHT)
    assert edited != shipped, "the shipped health model no longer has the weight to edit"
    health.write_text(edited)


def _events(
    org: SoakOrg, script: Script, day: date, number: int, events: dict[str, list[str]]
) -> None:
    for renewal in script.renewals:
        if renewal.on == day:
            org.close_renewal(renewal)
            outcome = f"won at {renewal.amount:,.0f}" if renewal.won else "lost: churned"
            events[renewal.account_id].append(f"renewal {outcome}")
    for slip in script.slips:
        if slip.on == day:
            org.slip(slip)
            events[slip.account_id].append(f"renewal slipped to {slip.close_date}")
    when, giver, taker = script.owner_change
    if number == when:
        org.hand_over(giver, taker)


def _view(
    report: SoakReport,
    org: SoakOrg,
    checker: Checker,
    day: date,
    new: list[dict[str, object]],
    events: dict[str, list[str]],
) -> None:
    for account_id, account in org.accounts().items():
        tenant = checker.tenants[account_id]
        notes = list(events.get(account_id, []))
        since = checker.silent_since(tenant, day)
        if since is not None:
            notes.append(f"silent since {since}")
        report.views[account_id][day] = DayView(
            account["CS_Health_Score__c"],
            account["CS_Health_Color__c"],
            account["CS_Health_Trend__c"],
            account["CS_Journey_Stage__c"],
            account["CS_Touch_Tier__c"],
            [str(t["Subject"]) for t in new if t["WhatId"] == account_id],
            notes,
        )


@contextmanager
def _quiet() -> Iterator[None]:
    """The worker logs an event per step; over hundreds of runs only warnings matter."""
    logger = logging.getLogger("connector")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
