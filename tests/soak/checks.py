"""The invariants of issue #12, checked after every simulated day's run against what the
sandboxes hold (the org's tasks and accounts, the SMTP sink) and the history store."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import holidays
import polars as pl
from sqlalchemy import select

from connector.config.load import Config
from connector.store import HistoryStore
from connector.store.tables import stage_history
from tests.soak.crm import SoakOrg
from tests.soak.script import Script, week_of

DUPLICATE_TASKS = "duplicate tasks (two CRM tasks with one action key)"
DUPLICATE_EMAILS = "duplicate customer emails (one X-CS-Connector-Key twice)"
RENEWAL_EMAILS = "more than one renewal email per (account, renewal opportunity)"
SILENT_HEALTHY = "tasks for a silent tenant saying it is healthy"
SILENT_UNFLAGGED = "silent tenants not flagged within 8 days"
MODEL_EDIT = "trends or health-drop tasks caused only by the model edit"
STAGE_REGRESSION = "stage regressions without the regression rule"
TIER_FLAP = "tier changes within the hysteresis band"
DUE_ON_DAY_OFF = "due dates on a weekend or a Japanese public holiday"
OVER_LIMIT = "CSMs above the daily task limit"
NOT_TOKYO = "runs not dated in Asia/Tokyo"
INVARIANTS = (
    DUPLICATE_TASKS,
    DUPLICATE_EMAILS,
    RENEWAL_EMAILS,
    SILENT_HEALTHY,
    SILENT_UNFLAGGED,
    MODEL_EDIT,
    STAGE_REGRESSION,
    TIER_FLAP,
    DUE_ON_DAY_OFF,
    OVER_LIMIT,
    NOT_TOKYO,
)
FLAG_WITHIN_DAYS = 8
TIER_FIELD, STAGE_FIELD, STAGE_SINCE = (
    "CS_Touch_Tier__c",
    "CS_Journey_Stage__c",
    "CS_Journey_Stage_Since__c",
)
COLOR_FIELD, TREND_FIELD = "CS_Health_Color__c", "CS_Health_Trend__c"


@dataclass(frozen=True)
class Violation:
    invariant: str
    day: date
    what: str

    def __str__(self) -> str:
        return f"{self.day} ({self.day:%a}): {self.what}"


@dataclass
class Checker:
    """Remembers what earlier days showed (tasks and emails seen, tiers, stages) so each day
    is judged by what changed in its run."""

    org: SoakOrg
    store: HistoryStore  # the worker's history store, opened once for every day's checks
    config: Config
    script: Script
    tenants: Mapping[str, str]  # account id → tenant
    usage: Mapping[str, Mapping[date, Mapping[str, float | int]]]  # tenant → week → metrics
    limit: int
    violations: list[Violation] = field(default_factory=list)
    judged: Counter[str] = field(default_factory=Counter)  # what each invariant looked at
    first_flagged: dict[str, date] = field(default_factory=dict)
    _task_ids: set[str] = field(default_factory=set)
    _emails_seen: int = 0
    _renewal_emails: Counter[tuple[str, str]] = field(default_factory=Counter)
    _crm: dict[str, dict[str, Any]] = field(default_factory=dict)  # yesterday's accounts
    _kept: dict[str, tuple[str | None, date | None]] = field(default_factory=dict)  # pending
    _tiers: dict[str, list[tuple[date, str | None]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _jp: holidays.HolidayBase = field(default_factory=lambda: holidays.country_holidays("JP"))

    def after_run(self, day: date, as_of: date, model_edited: bool) -> list[dict[str, Any]]:
        """Check `day`'s run; returns the tasks it created."""
        found: list[Violation] = []
        accounts = self.org.accounts()
        tasks = self.org.tasks()
        new = [t for t in tasks if t["Id"] not in self._task_ids]
        self._task_ids.update(t["Id"] for t in tasks)
        new_work = [t for t in new if t["Type"] != "Email"]
        found += self._duplicates(tasks, day)
        found += self._emails(day)
        found += self._silence(day, accounts, tasks, new_work)
        found += self._calendar_and_limit(day, new_work)
        found += self._stages(day, accounts)
        found += self._tiers_(day, accounts)
        if model_edited:
            found += self._model_edit(day, accounts, new_work)
        self.judged[NOT_TOKYO] += 1
        if as_of != day:
            found.append(Violation(NOT_TOKYO, day, f"the run is dated {as_of}"))
        self.violations += found
        self._crm = accounts
        return new

    # -- the checks -------------------------------------------------------------------------

    def _duplicates(self, tasks: Sequence[Mapping[str, Any]], day: date) -> list[Violation]:
        keys = Counter(t["CS_Action_Key__c"] for t in tasks)
        self.judged[DUPLICATE_TASKS] += len(keys)
        return [
            Violation(DUPLICATE_TASKS, day, f"{n} tasks with key {key}")
            for key, n in keys.items()
            if n > 1
        ]

    def _emails(self, day: date) -> list[Violation]:
        messages = self.org.sandbox.smtp.messages
        arrived, self._emails_seen = messages[self._emails_seen :], len(messages)
        found = []
        every = Counter(str(m["X-CS-Connector-Key"]) for m in messages)
        for message in arrived:
            key = str(message["X-CS-Connector-Key"])
            self.judged[DUPLICATE_EMAILS] += 1
            if every[key] > 1:
                found.append(Violation(DUPLICATE_EMAILS, day, f"{every[key]} emails keyed {key}"))
            rule, account, _ = key.split(":")
            if rule != "renewal-90-days":
                continue
            renewal = self.org.open_renewal(account) or "none open"
            self.judged[RENEWAL_EMAILS] += 1
            self._renewal_emails[account, renewal] += 1
            if self._renewal_emails[account, renewal] > 1:
                found.append(
                    Violation(
                        RENEWAL_EMAILS,
                        day,
                        f"renewal email #{self._renewal_emails[account, renewal]} to account "
                        f"{account} for renewal opportunity {renewal} (key {key})",
                    )
                )
        return found

    def silent_since(self, tenant: str, day: date) -> date | None:
        """When the tenant's current silence began (its first week without usage), if it is
        silent on `day`."""
        weeks = self.usage.get(tenant, {})
        if week_of(day) in weeks:
            return None
        earlier = [w for w in weeks if w < day]
        return max(earlier) + timedelta(weeks=1) if earlier else self.script.first_day

    def _silence(
        self,
        day: date,
        accounts: Mapping[str, Mapping[str, Any]],
        tasks: Sequence[Mapping[str, Any]],
        new_work: Sequence[Mapping[str, Any]],
    ) -> list[Violation]:
        found = []
        silent_task = {
            t["WhatId"] for t in tasks if t["CS_Action_Key__c"].startswith("tenant-silent:")
        }
        for account_id, account in accounts.items():
            tenant = self.tenants[account_id]
            since = self.silent_since(tenant, day)
            if since is None:
                self.first_flagged.pop(tenant, None)
                continue
            since = max(since, self.script.first_day)
            self.judged[SILENT_UNFLAGGED] += tenant not in self.first_flagged
            flagged = account[COLOR_FIELD] == "Red" or account_id in silent_task
            if flagged:
                self.first_flagged.setdefault(tenant, day)
            elif (day - since).days >= FLAG_WITHIN_DAYS and tenant not in self.first_flagged:
                found.append(
                    Violation(
                        SILENT_UNFLAGGED,
                        day,
                        f"{account['Name']} silent since {since}: health {account[COLOR_FIELD]}, "
                        "no tenant-silent task",
                    )
                )
            for task in new_work:
                if task["WhatId"] != account_id:
                    continue
                self.judged[SILENT_HEALTHY] += 1
                if "Green" in f"{task['Subject']}\n{task['Description']}":
                    found.append(
                        Violation(
                            SILENT_HEALTHY,
                            day,
                            f"'{task['Subject']}' for {account['Name']} (silent since {since}) "
                            "says Green",
                        )
                    )
        return found

    def _calendar_and_limit(
        self, day: date, new_work: Sequence[Mapping[str, Any]]
    ) -> list[Violation]:
        found = []
        self.judged[OVER_LIMIT] += sum(
            n == self.limit for n in Counter(t["OwnerId"] for t in new_work).values()
        )  # days a CSM reached the limit
        for task in new_work:
            self.judged[DUE_ON_DAY_OFF] += 1
            due = date.fromisoformat(task["ActivityDate"])
            if due.weekday() >= 5 or due in self._jp:
                off = self._jp.get(due) or f"{due:%A}"
                found.append(
                    Violation(DUE_ON_DAY_OFF, day, f"'{task['Subject']}' due {due} ({off})")
                )
        for owner, n in Counter(t["OwnerId"] for t in new_work).items():
            if n > self.limit:
                found.append(
                    Violation(OVER_LIMIT, day, f"{owner} got {n} new tasks (limit {self.limit})")
                )
        return found

    def _stages(self, day: date, accounts: Mapping[str, Mapping[str, Any]]) -> list[Violation]:
        """A stage may move back only along a regression rule that had been waiting (held)
        for its `for_days` by yesterday's record; the CRM shows the store's stage and date."""
        journey = self.config.journey
        assert journey is not None
        found = []
        current = self._current_stages()
        for account_id, account in accounts.items():
            before = self._crm.get(account_id, {}).get(STAGE_FIELD)
            now = account[STAGE_FIELD]
            kept = current.get(account_id)
            if kept is not None and (now, account[STAGE_SINCE]) != (kept[0], kept[1].isoformat()):
                found.append(
                    Violation(
                        STAGE_REGRESSION,
                        day,
                        f"{account['Name']}: the CRM shows {now} since "
                        f"{account[STAGE_SINCE]}, the stage history {kept[0]} since {kept[1]}",
                    )
                )
            if before is None:
                continue
            back = (journey.index(now) or 0) < (journey.index(before) or 0)
            self.judged[STAGE_REGRESSION] += back  # regressions seen (each judged below)
            if back and not self._regression_due(before, now, account_id, day):
                found.append(
                    Violation(
                        STAGE_REGRESSION, day, f"{account['Name']} went back {before} → {now}"
                    )
                )
        self._kept = self._pending()
        return found

    def _regression_due(self, before: str, now: str, account_id: str, day: date) -> bool:
        journey = self.config.journey
        assert journey is not None
        pending, since = self._kept.get(account_id, (None, None))
        return any(
            before in rule.from_
            and rule.to == now == pending
            and since is not None
            and (day - since).days >= rule.for_days
            for rule in journey.regressions
        )

    def _current_stages(self) -> dict[str, tuple[str, date]]:
        with self.store.engine.connect() as db:
            rows = db.execute(
                select(
                    stage_history.c.account_id,
                    stage_history.c.stage,
                    stage_history.c.entered_on,
                )
                .where(stage_history.c.track == "journey_stage")
                .order_by(stage_history.c.entered_on)
            ).all()
        return {account: (stage, entered) for account, stage, entered in rows}

    def _pending(self) -> dict[str, tuple[str | None, date | None]]:
        kept = self.store.stages().filter(pl.col("track") == "journey_stage")
        return {
            a: (p, s)
            for a, p, s in kept.select("account_id", "pending_stage", "pending_since").iter_rows()
        }

    def _tiers_(self, day: date, accounts: Mapping[str, Mapping[str, Any]]) -> list[Violation]:
        tiers = self.config.touch_tiers
        assert tiers is not None
        by_min = sorted(tiers.tiers, key=lambda t: t.min)
        found = []
        for account_id, account in accounts.items():
            now, before = account[TIER_FIELD], self._crm.get(account_id, {}).get(TIER_FIELD)
            self._tiers[account_id].append((day, now))
            if before is None or now == before:
                continue
            arr = self.contract_arr(account_id, day)
            self.judged[TIER_FLAP] += 1  # tier changes seen
            (tier,) = [i for i, t in enumerate(by_min) if t.name == before]
            low = by_min[tier].min * (1 - tiers.margin)
            high = by_min[tier + 1].min * (1 + tiers.margin) if tier + 1 < len(by_min) else None
            if arr is not None and arr >= low and (high is None or arr < high):
                top = "any" if high is None else f"{high:,.0f}"
                found.append(
                    Violation(
                        TIER_FLAP,
                        day,
                        f"{account['Name']}: {before} → {now} at ARR {arr:,.0f} "
                        f"(the band with its margin: {low:,.0f} to {top})",
                    )
                )
        return found

    def contract_arr(self, account_id: str, day: date) -> float | None:
        """The contract's ARR: the latest closed-won new business or renewal, plus the
        expansions won since."""
        won = [
            o
            for o in self.org.opportunities()
            if o["AccountId"] == account_id
            and o["IsWon"]
            and date.fromisoformat(o["CloseDate"]) <= day
        ]
        terms = [o for o in won if o["Type"] in ("New Business", "Renewal")]
        if not terms:
            return None
        latest = max(terms, key=lambda o: o["CloseDate"])
        since = latest["CloseDate"]
        return float(latest["Amount"]) + sum(
            float(o["Amount"]) for o in won if o["Type"] == "Expansion" and o["CloseDate"] >= since
        )

    def _model_edit(
        self,
        day: date,
        accounts: Mapping[str, Mapping[str, Any]],
        new_work: Sequence[Mapping[str, Any]],
    ) -> list[Violation]:
        """On the edit's day, an account whose usage and tier did not change over the trend's
        window and its baseline's weeks has no trend and gets no health-drop task."""
        found = []
        drops = {t["WhatId"] for t in new_work if t["CS_Action_Key__c"].startswith("health-drop:")}
        for account_id in self.unchanged(day, accounts):
            self.judged[MODEL_EDIT] += 1
            account = accounts[account_id]
            trend = account[TREND_FIELD]
            if trend not in (None, 0.0) or account_id in drops:
                found.append(
                    Violation(
                        MODEL_EDIT,
                        day,
                        f"{account['Name']}: trend {trend}, usage unchanged"
                        + (", health-drop task created" if account_id in drops else ""),
                    )
                )
        return found

    def unchanged(self, day: date, accounts: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Accounts whose weekly usage and tier were the same over the 30-day trend window,
        its 3 days' tolerance and the week before the baseline's week."""
        start = week_of(day - timedelta(days=30 + 3 + 7))
        weeks = [start + timedelta(weeks=i) for i in range((week_of(day) - start).days // 7 + 1)]
        same = []
        for account_id in accounts:
            rows = self.usage.get(self.tenants[account_id], {})
            series = [rows.get(w) for w in weeks]
            tiers = {t for d, t in self._tiers[account_id] if d >= start}
            if None not in series and all(s == series[0] for s in series) and len(tiers) == 1:
                same.append(account_id)
        return same
