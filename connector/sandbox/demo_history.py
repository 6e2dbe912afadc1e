"""The demo company's last two years: each customer lives a latent story — usage growing,
steady or falling, a champion who leaves, meetings with the decision maker that stop, seats
cut — and each renewal on its anniversary is won or lost by what the story did before it.

Nothing says "will churn": whether a renewal is lost is drawn from several signals jointly
(falling usage *and* no decision-maker meeting weigh far more than either alone; a champion
gone; seats cut), with noise. A customer still a customer today has a story that won every
renewal; the stories drawn for it that lost one become the former customers beside it.

Every draw comes from a generator seeded by the company's seed and the customer's number,
so the current eight weeks (`demo_company`) stay exactly as they were without history.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from connector.sandbox.usage_api import UsageRow

HISTORY_WEEKS = 104
HISTORY_EVERY = timedelta(weeks=2)  # how often the demo's backfill evaluates a past day
CURRENT_WEEKS = 8  # the weeks `demo_company.weekly_usage` draws: history ends before them
LEAD_WEEKS = 6  # a renewal is decided on what the weeks this far before it showed
NO_MEETING_WEEKS = 13  # about 90 days without meeting the decision maker
MAX_TRIES = 30
ACTIVITY = ("logins", "active_users", "scouts_sent", "interviews_held", "reports_exported")


@dataclass(frozen=True, slots=True)
class Story:
    """One customer's latent two years, in weeks before the demo date's week."""

    trend: float  # yearly growth of activity before anything goes wrong
    decline_from: int | None  # activity falls 5% a week from then on
    champion_left: int | None  # the champion leaves: admin logins stop, new users appear
    meetings_stop: int | None  # no decision-maker meeting since then
    seats_cut: int | None  # licensed seats cut by 40% then
    meeting_every: int  # weeks between decision-maker meetings while they happen

    def signals(self, weeks_ago: int) -> tuple[bool, bool, bool, bool]:
        """Falling usage, no decision-maker meeting for ~90 days, champion gone, seats cut —
        as they stood `weeks_ago`."""
        return (
            self.decline_from is not None and self.decline_from >= weeks_ago + 4,
            self.meetings_stop is not None and self.meetings_stop >= weeks_ago + NO_MEETING_WEEKS,
            self.champion_left is not None and self.champion_left >= weeks_ago,
            self.seats_cut is not None and self.seats_cut >= weeks_ago,
        )

    def level(self, weeks_ago: int) -> float:
        """Activity relative to its level two years ago."""
        grown = math.exp(self.trend * (HISTORY_WEEKS - weeks_ago) / 52)
        fallen = 1.0
        if self.decline_from is not None and weeks_ago < self.decline_from:
            fallen = max(0.2, 0.95 ** (self.decline_from - weeks_ago))
        gone = 0.8 if self.champion_left is not None and weeks_ago < self.champion_left else 1.0
        return grown * fallen * gone


def draw_story(rng: random.Random, meetings_stop: int | None) -> Story:
    """A story; `meetings_stop` is fixed by the meetings the customer had (see `met_weeks`)."""
    champion_left = rng.randint(12, 100) if rng.random() < 0.18 else None
    decline_from = rng.randint(12, 100) if rng.random() < 0.3 else None
    if champion_left is not None and decline_from is None and rng.random() < 0.6:
        decline_from = max(CURRENT_WEEKS, champion_left - 2)  # the team drifts after them
    growing = decline_from is None and rng.random() < 0.35
    return Story(
        trend=rng.uniform(0.1, 0.35) if growing else rng.uniform(-0.05, 0.08),
        decline_from=decline_from,
        champion_left=champion_left,
        meetings_stop=meetings_stop,
        seats_cut=rng.randint(12, 100) if rng.random() < 0.15 else None,
        meeting_every=rng.randint(8, 14),
    )


def loses_renewal(rng: random.Random, story: Story, weeks_ago: int) -> bool:
    """Whether the renewal `weeks_ago` is lost: the signals jointly, plus noise."""
    declining, unmet, champion_gone, cut = story.signals(weeks_ago + LEAD_WEEKS)
    logit = -2.7 + 0.9 * declining + 0.7 * unmet + 1.9 * (declining and unmet)
    logit += 1.5 * champion_gone + 1.0 * cut + rng.gauss(0.0, 0.7)
    return rng.random() < 1 / (1 + math.exp(-logit))


def met_weeks(decision_maker_met_days: int | None) -> int | None:
    """When a customer's decision-maker meetings stopped, from its latest one: none met in
    the last ~90 days means they stopped then; never met, before the history began."""
    if decision_maker_met_days is None:
        return HISTORY_WEEKS + 1
    return decision_maker_met_days // 7 if decision_maker_met_days > 90 else None


@dataclass(frozen=True, slots=True)
class Deal:
    kind: str  # New Business, Renewal, Expansion
    closed: date
    amount: float
    won: bool


def contract_deals(
    start: date, arr: float, story: Story, as_of: date, lost_at: date | None
) -> list[Deal]:
    """New business on `start`, a renewal each anniversary up to `as_of` (the one on
    `lost_at` lost, none after it). A growing story bought seats mid-term in the terms
    before the last, so earlier terms were smaller and the last one is `arr`."""
    terms, years = [], 0
    while (closed := add_months(start, 12 * years)) <= as_of and (
        lost_at is None or closed <= lost_at
    ):
        terms.append(closed)
        years += 1
    last = len(terms) - 1
    grown = min(last, max(0, round(story.trend * 8)) if story.trend > 0.1 else 0)
    step = round(arr * 0.15, -2)
    deals = []
    for index, closed in enumerate(terms):
        kind = "New Business" if index == 0 else "Renewal"
        deals.append(Deal(kind, closed, arr - step * min(grown, last - index), closed != lost_at))
        if last - grown <= index < last:
            deals.append(Deal("Expansion", add_months(closed, 6), step, True))
    return deals


def add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    for candidate in (day.day, 30, 29, 28):  # clamp the 31st etc. to the month's last day
        try:
            return date(year, month + 1, candidate)
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def history_usage(
    rng: random.Random,
    tenant: str,
    base: Mapping[str, float | int],
    story: Story,
    as_of: date,
    weeks: range,
    anchor_week: int = CURRENT_WEEKS,
) -> list[UsageRow]:
    """Weekly rows for `weeks` (weeks before `as_of`'s week), scaled from `base` — the
    customer's usage in `anchor_week`, by default the last of the history — by the story's
    level."""
    this_week = week_of(as_of)
    anchor = story.level(anchor_week)
    seats = int(base["licensed_seats"])
    rows = []
    for weeks_ago in sorted(weeks, reverse=True):
        ratio = story.level(weeks_ago) / anchor
        noise = rng.uniform(0.9, 1.1)
        cut = story.seats_cut is not None and weeks_ago >= story.seats_cut >= CURRENT_WEEKS
        licensed = round(seats / 0.6) if cut else seats
        metrics: dict[str, float | int] = {
            name: round(float(base[name]) * ratio * noise) for name in ACTIVITY
        }
        metrics["active_users"] = min(licensed, int(metrics["active_users"]))
        leaving = story.champion_left is not None and 0 <= story.champion_left - weeks_ago < 4
        gone = story.champion_left is not None and weeks_ago < story.champion_left
        metrics |= {
            "licensed_seats": licensed,
            "new_users": rng.randint(2, 5) if leaving else int(rng.random() < 0.08),
            "admin_logins": 0 if leaving else rng.randint(0, 3) if gone else rng.randint(3, 15),
            "pricing_page_views": 0,
            "material_downloads": 0,
        }
        rows.append(UsageRow(tenant, this_week - timedelta(weeks=weeks_ago), metrics))
    return rows


def meeting_days(story: Story, as_of: date, first: date, last: date) -> list[date]:
    """Decision-maker meetings every `meeting_every` weeks from `first`, before `last` and
    before they stopped."""
    stop = as_of - timedelta(weeks=story.meetings_stop or 0)
    until = min(last, stop) if story.meetings_stop is not None else last
    days, day = [], first + timedelta(weeks=2)
    while day < until:
        days.append(day)
        day += timedelta(weeks=story.meeting_every)
    return days
