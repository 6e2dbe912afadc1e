"""What happens over the simulated months, drawn once from a seed: tenants going silent,
usage decaying before a churn, renewals closing won (some at a new ARR) and lost, close dates
slipping, an owner change, the model edit. Pure data, and the usage every week will show."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from connector.sandbox.usage_api import UsageRow

LEVELS = frozenset({"licensed_seats"})  # states, not activity: never scaled or silenced
SILENT_SHARE = 0.12
NOISY_EVERY = 3  # every third tenant's usage moves from week to week; the rest hold steady
DECAY = 0.7  # a decaying tenant keeps 70% of last week's activity
DECAY_WEEKS = 8  # how long usage decays before the renewal is lost
SLIP_SHARE = 0.25
SLIP_DAYS = 30
LOST_SHARE = 0.2
# a won renewal's ARR against the last term's: the same, within the tier's band and its
# margin (0.93, 1.15), or across a band's edge down (0.5) or up (2.0)
NEW_AMOUNT = (0.5, 1.0, 0.93, 2.0, 1.15)


@dataclass(frozen=True)
class Customer:
    account_id: str
    name: str
    tenant: str
    owner_id: str
    renewal_id: str
    renewal_date: date
    arr: float


@dataclass(frozen=True)
class Renewal:
    """The renewal `opportunity_id` of `account_id` closes on `on`: won at `amount` (and the
    next year's renewal opened), or lost (the account churns)."""

    account_id: str
    opportunity_id: str
    on: date
    won: bool
    amount: float


@dataclass(frozen=True)
class Slip:
    account_id: str
    opportunity_id: str
    on: date
    close_date: date  # the new one


@dataclass(frozen=True)
class Script:
    first_day: date
    days: int
    silences: Mapping[str, date]  # tenant → the first week with no usage at all
    decays: Mapping[str, date]  # tenant → the first week of decay
    renewals: tuple[Renewal, ...]
    slips: tuple[Slip, ...]
    owner_change: tuple[int, str, str]  # (day number, from owner, to owner)
    model_edit_day: int
    noisy: frozenset[str]
    completes: float = 0.15  # the share of open tasks a CSM completes each day
    deletes: float = 0.01  # … and deletes
    events: dict[date, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.days - 1)

    def day(self, number: int) -> date:
        return self.first_day + timedelta(days=number)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def draw(
    customers: Sequence[Customer], owners: Sequence[str], first_day: date, days: int, seed: int
) -> Script:
    """The events of `days` simulated days from `first_day`, the same for the same seed."""
    rng = random.Random(seed)
    last = first_day + timedelta(days=days - 1)
    renewals: list[Renewal] = []
    slips: list[Slip] = []
    decays: dict[str, date] = {}
    silences: dict[str, date] = {}
    for c in customers:
        close = c.renewal_date
        if rng.random() < SLIP_SHARE and close - timedelta(days=45) > first_day:
            slips.append(
                Slip(
                    c.account_id, c.renewal_id, close - timedelta(45), close + timedelta(SLIP_DAYS)
                )
            )
            close += timedelta(SLIP_DAYS)
        if not first_day < close <= last:
            continue
        on = close - timedelta(days=rng.randint(0, 10))
        won = rng.random() >= LOST_SHARE
        amount = c.arr * (rng.choice(NEW_AMOUNT) if won else 1.0)
        renewals.append(
            Renewal(c.account_id, c.renewal_id, max(on, first_day + timedelta(1)), won, amount)
        )
        if not won:
            decays[c.tenant] = week_of(on - timedelta(weeks=DECAY_WEEKS))
    quiet = [c for c in customers if c.tenant not in decays]
    for c in rng.sample(quiet, max(1, round(len(customers) * SILENT_SHARE))):
        silences[c.tenant] = week_of(first_day + timedelta(days=rng.randint(7, days - 10)))
    noisy = frozenset(c.tenant for i, c in enumerate(customers) if i % NOISY_EVERY == 1)
    giver, taker = owners[0], owners[1]
    return Script(
        first_day=first_day,
        days=days,
        silences=silences,
        decays=decays,
        renewals=tuple(sorted(renewals, key=lambda r: r.on)),
        slips=tuple(sorted(slips, key=lambda s: s.on)),
        owner_change=(min(60, days // 3), giver, taker),
        model_edit_day=min(90, days // 2),
        noisy=noisy - silences.keys() - decays.keys(),
    )


def usage_timeline(seeded: Iterable[UsageRow], script: Script, seed: int) -> list[UsageRow]:
    """The seeded weeks, then every week to the script's last day: each tenant as in its
    latest seeded week, moved by the script (silent: no rows; decaying: 30% less activity a
    week; noisy: ±15% a week, drawn from the seed)."""
    rng = random.Random(seed)
    by_tenant: dict[str, list[UsageRow]] = defaultdict(list)
    for row in seeded:
        by_tenant[row.account_key].append(row)
    rows: list[UsageRow] = []
    for tenant, own in sorted(by_tenant.items()):
        own.sort(key=lambda r: r.week_start)
        latest = own[-1]
        rows += [r for r in own if _active(tenant, r.week_start, script)]
        week = week_of(script.first_day) + timedelta(weeks=1)
        while week <= script.last_day:
            factor = _factor(tenant, week, script, rng)
            if _active(tenant, week, script):
                rows.append(UsageRow(tenant, week, _scaled(latest.metrics, factor)))
            week += timedelta(weeks=1)
    return rows


def _active(tenant: str, week: date, script: Script) -> bool:
    silent_from = script.silences.get(tenant)
    return silent_from is None or week < silent_from


def _factor(tenant: str, week: date, script: Script, rng: random.Random) -> float:
    noise = rng.uniform(0.85, 1.15)  # drawn for every tenant and week: one stream for all
    decay_from = script.decays.get(tenant)
    if decay_from is not None and week >= decay_from:
        return float(DECAY ** ((week - decay_from).days // 7 + 1))
    return noise if tenant in script.noisy else 1.0


def _scaled(metrics: Mapping[str, float | int], factor: float) -> dict[str, float | int]:
    return {m: v if m in LEVELS else round(v * factor) for m, v in metrics.items()}
