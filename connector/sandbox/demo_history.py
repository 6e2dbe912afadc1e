"""The demo company's last two years: each customer lives a latent story that ends in its
current persona — usage growing, steady or falling, a champion who leaves, decision-maker
meetings that stop or pause, seats cut — and each renewal on its anniversary is won or lost
by what the story showed about 90 days before it, the day the churn model reads.

Nothing says "will churn": whether a renewal is lost is drawn from several signals jointly
(fallen usage *and* no decision-maker meeting weigh far more than either alone; a champion
gone; seats cut), with modest noise. A customer still a customer today has a story that won
every renewal; the stories drawn for it that lost one become former customers, beside
customers who left whose stories are drawn given that they lost one.

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
# a renewal is decided on what the account showed ~90 days before it closed (the day the
# churn model reads), through the snapshot a fortnightly backfill took up to 14 days earlier
LEAD_WEEKS = 14
TREND_WEEKS = 8  # "usage fell": activity down by more than FELL over the eight weeks before
FELL = 0.15
NO_MEETING_WEEKS = 13  # about 90 days without meeting the decision maker
CHAMPION_GAP_WEEKS = 26  # after the champion left, admin logins stay low until a new one
SEATS_CUT_SHOWS_WEEKS = 8  # a seat cut shows in the licensed seats' eight-week change
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
    decline_to: int | None = None  # the fall stopped then, at its lower level (None: still)
    meetings_paused: tuple[int, int] | None = None  # no decision-maker meeting from, to

    def unmet(self, weeks_ago: int) -> bool:
        """No decision-maker meeting in the ~90 days up to `weeks_ago`."""
        if self.meetings_stop is not None and self.meetings_stop >= weeks_ago + NO_MEETING_WEEKS:
            return True
        paused = self.meetings_paused
        return paused is not None and paused[0] >= weeks_ago + NO_MEETING_WEEKS > paused[1]

    def signals(self, weeks_ago: int) -> tuple[bool, bool, bool, bool]:
        """Usage fallen over the eight weeks before, no decision-maker meeting for ~90 days,
        the champion recently gone, seats recently cut — as they stood `weeks_ago`."""
        return (
            self.level(weeks_ago) < (1 - FELL) * self.level(weeks_ago + TREND_WEEKS),
            self.unmet(weeks_ago),
            self.champion_gone(weeks_ago),
            self.seats_cut is not None
            and weeks_ago <= self.seats_cut < weeks_ago + SEATS_CUT_SHOWS_WEEKS,
        )

    def champion_gone(self, weeks_ago: int) -> bool:
        """The champion left and no one has taken over yet, `weeks_ago`."""
        left = self.champion_left
        return left is not None and weeks_ago <= left < weeks_ago + CHAMPION_GAP_WEEKS

    def level(self, weeks_ago: int) -> float:
        """Activity relative to its level two years ago."""
        grown = math.exp(self.trend * (HISTORY_WEEKS - weeks_ago) / 52)
        fallen = 1.0
        if self.decline_from is not None and weeks_ago < self.decline_from:
            until = max(weeks_ago, self.decline_to or 0)
            fallen = max(0.2, 0.95 ** (self.decline_from - until))
        gone = 0.8 if self.champion_left is not None and weeks_ago < self.champion_left else 1.0
        return grown * fallen * gone


def draw_story(rng: random.Random, meetings_stop: int | None, persona: str) -> Story:
    """A story that ends in `persona`'s current weeks: a declining customer's fall began
    months ago and goes on, a dormant one's fell to almost nothing, a champion change is
    the champion leaving now; others may have fallen once and settled lower. `meetings_stop`
    is fixed by the meetings the customer had (see `met_weeks`)."""
    champion_left = rng.randint(12, 100) if rng.random() < 0.35 else None
    decline_from = rng.randint(12, 100) if rng.random() < 0.6 else None
    if champion_left is not None and decline_from is None and rng.random() < 0.6:
        decline_from = max(CURRENT_WEEKS + 1, champion_left - 2)  # the team drifts after them
    decline_to = None
    if persona == "declining":
        decline_from = rng.randint(CURRENT_WEEKS + 8, 40)
    elif persona == "dormant":
        decline_from = rng.randint(24, 90)
    elif decline_from is not None:  # it fell, then settled at the lower level it has now
        decline_to = max(CURRENT_WEEKS, decline_from - rng.randint(8, 30))
    if persona == "champion_change":
        champion_left = 3  # the handover of its current weeks
    growing = decline_from is None and (persona == "thriving" or rng.random() < 0.25)
    return Story(
        trend=rng.uniform(0.1, 0.35) if growing else rng.uniform(-0.05, 0.08),
        decline_from=decline_from,
        champion_left=champion_left,
        meetings_stop=meetings_stop,
        seats_cut=rng.randint(12, 100) if rng.random() < 0.25 else None,
        meeting_every=rng.randint(6, 11),
        decline_to=decline_to,
        meetings_paused=None if meetings_stop is not None else _pause(rng, decline_from),
    )


def _pause(rng: random.Random, decline_from: int | None) -> tuple[int, int] | None:
    """Months without a decision-maker meeting, since resumed: most often as usage began
    to fall (the team went quiet), sometimes at any time."""
    if rng.random() >= (0.6 if decline_from is not None else 0.2):
        return None
    began = decline_from - rng.randint(0, 4) if decline_from is not None else rng.randint(30, 100)
    resumed = max(CURRENT_WEEKS + 4, began - rng.randint(16, 40))
    return (began, resumed) if began - resumed >= NO_MEETING_WEEKS else None


def loses_renewal(rng: random.Random, story: Story, weeks_ago: int) -> bool:
    """Whether the renewal `weeks_ago` is lost: the signals ~90 days before it jointly,
    plus modest noise — never one of them alone."""
    declining, unmet, champion_gone, cut = story.signals(weeks_ago + LEAD_WEEKS)
    logit = -3.9 + 2.6 * declining + 0.9 * unmet + 1.6 * (declining and unmet)
    logit += 1.8 * champion_gone + 1.2 * cut + rng.gauss(0.0, 0.4)
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
        gone = story.champion_gone(weeks_ago)
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
    paused = story.meetings_paused
    quiet = (
        (as_of - timedelta(weeks=paused[0]), as_of - timedelta(weeks=paused[1])) if paused else None
    )
    days, day = [], first + timedelta(weeks=2)
    while day < until:
        if quiet is None or not quiet[0] <= day < quiet[1]:
            days.append(day)
        day += timedelta(weeks=story.meeting_every)
    return days
