"""The demo company: a recruiting SaaS with a few hundred customers, generated the same way
every time from a seed and a date, so the demo, the tests and the benchmarks agree.

Each customer follows a persona (thriving, steady, low scouting, declining logins, new and
onboarding, dormant) so every alert in `playbooks/` fires on some accounts and not on others.
Every 25th customer has also stopped using the product (see `silent_weeks`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from connector.sandbox.demo_history import (
    CURRENT_WEEKS,
    HISTORY_WEEKS,
    MAX_TRIES,
    Deal,
    Story,
    add_months,
    contract_deals,
    draw_story,
    history_usage,
    loses_renewal,
    meeting_days,
    met_weeks,
    week_of,
)
from connector.sandbox.usage_api import UsageRow

METRICS = (
    "logins",
    "active_users",
    "licensed_seats",
    "scouts_sent",
    "interviews_held",
    "reports_exported",
    "new_users",
    "admin_logins",
    "pricing_page_views",
    "material_downloads",
)
WEEKS_OF_HISTORY = CURRENT_WEEKS  # the weeks each persona shapes; older ones: demo_history
FORMER_CUSTOMERS = 150  # at most this many lost a renewal in the last two years
CHURNED_SHARE = 0.15  # customers who left, beside the stories drawn for today's: per customer
ARR_THOUSANDS = (6, 9, 12, 18, 24, 36, 48, 60, 90, 120, 180)
SILENT_EVERY = 25  # every 25th customer went silent: for 3 weeks, the whole window, 1 week
SILENT_FOR = (3, WEEKS_OF_HISTORY, 1)
LEFT_TITLE = "No longer with the company"  # a departed champion's contact, as CS teams mark it
PERSONAS = {  # persona: relative frequency
    "thriving": 20,
    "steady": 30,
    "low_scouting": 15,
    "declining": 12,
    "onboarding": 10,
    "dormant": 8,
    "champion_change": 6,
}
CSMS = [
    ("Aiko", "Tanaka"),
    ("Ben", "Okafor"),
    ("Carla", "Ruiz"),
    ("Daniel", "Kim"),
    ("Emma", "Schulz"),
    ("Farid", "Haddad"),
]
COMPANY_WORDS = [
    "Northwind",
    "Sakura",
    "Bluebird",
    "Granite",
    "Helix",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Riverstone",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Zenith",
]
COMPANY_KINDS = [
    "Staffing",
    "Logistics",
    "Health",
    "Retail",
    "Foods",
    "Robotics",
    "Media",
    "Energy",
    "Travel",
    "Finance",
]
INDUSTRIES = ["Technology", "Healthcare", "Retail", "Manufacturing", "Finance", "Hospitality"]
CONTACT_NAMES = ["Haruto", "Yui", "Liam", "Sofia", "Noah", "Mia", "Ren", "Hana", "Lucas", "Emi"]
SURNAMES = [
    "Sato",
    "Suzuki",
    "Takahashi",
    "Watanabe",
    "Smith",
    "Garcia",
    "Müller",
    "Rossi",
    "Nguyen",
    "Kowalski",
]


class Org(Protocol):
    def insert(self, sobject: str, fields: dict[str, object]) -> str: ...


@dataclass(frozen=True)
class DemoCompany:
    as_of: date
    customers: int = 300
    prospects: int = 20
    seed: int = 7

    def populate(self, org: Org) -> list[UsageRow]:
        """Insert users, accounts, opportunities, contacts and two years of meetings and
        renewals (won and lost: `demo_history`); return the usage series."""
        rng = random.Random(self.seed)
        csm_ids = [
            org.insert(
                "User",
                {
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"{first.lower()}.{last.lower()}@talentloop.example",
                    "Title": "Customer Success Manager",
                    "IsActive": True,
                },
            )
            for first, last in CSMS
        ]
        usage: list[UsageRow] = []
        contracts: list[Contract] = []
        former: list[Former] = []
        for number in range(1, self.customers + 1):
            persona = rng.choices(list(PERSONAS), weights=list(PERSONAS.values()))[0]
            tenant = tenant_id(number)
            owner = rng.choice(csm_ids)
            contract = self._customer(org, rng, number, persona, tenant, owner, csm_ids)
            people = draw_people(rng)
            rows = weekly_usage(rng, tenant, persona, self.as_of)
            history = random.Random(f"{self.seed}:history:{number}")
            met_days = people.decision_maker_met
            story, lost = self._lived(history, persona, contract.start, met_weeks(met_days))
            contact_ids = self._contacts(
                org,
                people,
                contract.account_id,
                owner,
                champion_left=story.champion_left is not None,
            )
            former += [Former(contract, rows[0].metrics, *alternative) for alternative in lost]
            last_met = self.as_of - timedelta(days=met_days or 0)
            self._meetings(org, story, contract, contact_ids[0], last_met)
            usage += history_usage(
                history, tenant, rows[0].metrics, story, self.as_of, self._weeks(contract.start)
            )
            usage += rows[: len(rows) - silent_weeks(number)]
            deals = contract_deals(contract.start, contract.arr, story, self.as_of, None)
            if not any(c.returned for c in contracts) and self._may_return(persona, contract):
                earlier, lived = self._earlier_contract(org, contract, contact_ids[0])
                deals = [*earlier, *deals]
                usage += history_usage(history, tenant, rows[0].metrics, *lived)
            returned = any(not deal.won for deal in deals)
            contracts.append(replace(contract, deals=deals, returned=returned))
        for number in range(1, self.prospects + 1):
            org.insert(
                "Account",
                {
                    "Name": f"Prospect {number:02d} Holdings",
                    "Type": "Prospect",
                    "OwnerId": rng.choice(csm_ids),
                    "Industry": "Technology",
                },
            )
        for contract in contracts:  # last, so every other record keeps its id
            contract.insert_won(org)
        for index in range(1, round(self.customers * CHURNED_SHARE) + 1):
            former += self._churned(index, csm_ids)
        for index, gone in enumerate(former[:FORMER_CUSTOMERS], start=1):
            usage += self._former(org, index, gone)
        return usage

    def _renewals(self, start: date) -> list[date]:
        """The anniversaries of `start` in the history's two years."""
        return [
            day
            for years in range(1, 40)
            if self.as_of - timedelta(weeks=HISTORY_WEEKS)
            < (day := add_months(start, 12 * years))
            <= self.as_of
        ]

    def _first_loss(self, rng: random.Random, story: Story, renewals: list[date]) -> date | None:
        return next(
            (day for day in renewals if loses_renewal(rng, story, self._weeks_ago(day))), None
        )

    def _lived(
        self, rng: random.Random, persona: str, start: date, meetings_stop: int | None
    ) -> tuple[Story, list[tuple[Story, date]]]:
        """A story ending in `persona` that won every renewal of the last two years, and the
        ones drawn before it that lost one (with the date they lost it): the former
        customers."""
        renewals = self._renewals(start)
        lost: list[tuple[Story, date]] = []
        for _ in range(MAX_TRIES):
            story = draw_story(rng, meetings_stop, persona)
            losing = self._first_loss(rng, story, renewals)
            if losing is None:
                return story, lost
            lost.append((story, losing))
        falling = CURRENT_WEEKS + 4 if persona in ("declining", "dormant") else None
        handover = 3 if persona == "champion_change" else None
        return Story(0.0, falling, handover, meetings_stop, None, 12), lost

    def _churned(self, index: int, csm_ids: list[str]) -> list[Former]:
        """A customer who left in the last two years, beside the stories `_lived` drew for
        today's customers: drawn as they are, with a story that lost a renewal (given that
        it left, as `_lived` draws stories given that they renewed)."""
        rng = random.Random(f"{self.seed}:churned:{index}")
        persona = rng.choices(list(PERSONAS), weights=list(PERSONAS.values()))[0]
        start = self.as_of - timedelta(days=rng.randint(380, 1200))  # renewed in the history
        arr = float(rng.choice(ARR_THOUSANDS) * 1000)
        base = weekly_usage(rng, "", persona, self.as_of)[0].metrics
        meetings_stop = met_weeks(draw_people(rng).decision_maker_met)
        renewals = self._renewals(start)
        for _ in range(MAX_TRIES * 10):
            story = draw_story(rng, meetings_stop, "")
            losing = self._first_loss(rng, story, renewals)
            if losing is not None:
                contract = Contract("", "", rng.choice(csm_ids), start, arr)  # `_former` names it
                return [Former(contract, base, story, losing)]
        return []  # no story of this contract lost a renewal: it never was a customer

    def _weeks_ago(self, day: date) -> int:
        return (week_of(self.as_of) - week_of(day)).days // 7

    def _weeks(self, start: date, until: date | None = None) -> range:
        """The history weeks since `start`, up to `until` or else up to the week before the
        week before the current eight: a run on a Monday reads nine week starts back, and
        sees the eight weeks it saw before the history existed."""
        first = min(HISTORY_WEEKS, self._weeks_ago(start))
        last = CURRENT_WEEKS + 1 if until is None else self._weeks_ago(until)
        return range(last, first + 1)

    def _meetings(
        self, org: Org, story: Story, contract: Contract, decision_maker: str, before: date
    ) -> None:
        """The decision-maker meetings of the history, before the latest one (`before`)."""
        first = max(contract.start, self.as_of - timedelta(weeks=HISTORY_WEEKS))
        for day in meeting_days(story, self.as_of, first, before - timedelta(days=30)):
            _meeting(org, contract.account_id, decision_maker, contract.owner, day)

    def _may_return(self, persona: str, contract: Contract) -> bool:
        """The customer who churned and came back: the first whose contract began five to
        eleven months ago and who is not onboarding."""
        return persona != "onboarding" and 150 <= (self.as_of - contract.start).days <= 330

    def _earlier_contract(
        self, org: Org, contract: Contract, decision_maker: str
    ) -> tuple[list[Deal], tuple[Story, date, range, int]]:
        """Its first contract, 20 months before this one, lost at its first renewal after
        its usage fell and its meetings stopped: those deals, and how its usage went."""
        began = add_months(contract.start, -20)
        lost_at = add_months(began, 12)
        weeks = self._weeks_ago(lost_at)
        story = Story(0.0, weeks + 20, None, weeks + 30, None, 10)
        self._meetings(org, story, replace(contract, start=began), decision_maker, lost_at)
        deals = contract_deals(began, contract.arr, story, self.as_of, lost_at)
        return deals, (story, self.as_of, self._weeks(began, lost_at), self._weeks_ago(began))

    def _former(self, org: Org, index: int, gone: Former) -> list[UsageRow]:
        """A customer that lost a renewal: an account no longer a customer, its contacts,
        deals, meetings until it left, and its usage up to the renewal it lost."""
        rng = random.Random(f"{self.seed}:former:{index}")
        contract = gone.contract
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {900 + index:03d}"
        tenant = former_tenant_id(index)
        account_id = org.insert(
            "Account",
            {
                "Name": name,
                "Type": "Former Customer",
                "OwnerId": contract.owner,
                "CSM__c": contract.owner,
                "Industry": rng.choice(INDUSTRIES),
                "Contract_Start_Date__c": contract.start.isoformat(),
                "Product_Tenant_Id__c": tenant,
                "Language__c": "en",
            },
        )
        lived = Contract(
            account_id,
            name,
            contract.owner,
            contract.start,
            contract.arr,
            contract_deals(contract.start, contract.arr, gone.story, self.as_of, gone.lost_at),
        )
        left = gone.story.champion_left
        contact_ids = self._contacts(
            org,
            draw_people(rng),
            account_id,
            contract.owner,
            before=gone.lost_at,
            champion_left=left is not None and left >= self._weeks_ago(gone.lost_at),
        )
        self._meetings(org, gone.story, lived, contact_ids[0], gone.lost_at)
        lived.insert_won(org)
        weeks = self._weeks(contract.start, gone.lost_at)
        return history_usage(rng, tenant, gone.base, gone.story, self.as_of, weeks)

    def _customer(
        self,
        org: Org,
        rng: random.Random,
        number: int,
        persona: str,
        tenant: str,
        owner: str,
        csm_ids: list[str],
    ) -> Contract:
        start = contract_start(rng, persona, self.as_of)
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {number:03d}"
        account_id = org.insert(
            "Account",
            {
                "Name": name,
                "Type": "Customer",
                "OwnerId": owner,
                "CSM__c": owner if rng.random() < 0.8 else rng.choice(csm_ids),
                "Industry": rng.choice(INDUSTRIES),
                "Contract_Start_Date__c": start.isoformat(),
                "Product_Tenant_Id__c": tenant,
                "Language__c": "ja" if rng.random() < 0.3 else "en",
            },
        )
        arr = float(rng.choice(ARR_THOUSANDS) * 1000)
        org.insert(
            "Opportunity",
            {
                "Name": f"{name} — Renewal",
                "AccountId": account_id,
                "Type": "Renewal",
                "StageName": "Prospecting",
                "Amount": arr,
                "OwnerId": owner,
                "CloseDate": next_anniversary(start, self.as_of).isoformat(),
            },
        )
        if rng.random() < 0.25:
            org.insert(
                "Opportunity",
                {
                    "Name": f"{name} — More seats",
                    "AccountId": account_id,
                    "Type": "Expansion",
                    "StageName": "Negotiation",
                    "Amount": round(arr * rng.uniform(0.1, 0.5), -2),
                    "OwnerId": owner,
                    "CloseDate": (self.as_of + timedelta(days=rng.randint(10, 120))).isoformat(),
                },
            )
        return Contract(account_id, name, owner, start, arr)

    def _contacts(
        self,
        org: Org,
        people: People,
        account_id: str,
        owner: str,
        before: date | None = None,
        *,
        champion_left: bool = False,
    ) -> list[str]:
        """The account's contacts, the first the decision maker, and their latest meetings
        (before `before`, the demo date if None). A champion who left stays in the CRM, as
        contacts do, with the title a CS team gives one: "No longer with the company"."""
        contact_ids = []
        for index, (role, first, last, opted_out) in enumerate(people.contacts):
            gone = champion_left and role == "Champion"
            contact_ids.append(
                org.insert(
                    "Contact",
                    {
                        "AccountId": account_id,
                        "FirstName": first,
                        "LastName": last,
                        "Email": f"{first.lower()}.{index}@c{account_id[-5:].lower()}.example",
                        "Title": LEFT_TITLE if gone else role,
                        "CS_Role__c": role,
                        "IsPrimary__c": index == 0,
                        "HasOptedOutOfEmail": opted_out,
                    },
                )
            )
        meetings = [(0, people.decision_maker_met)] if people.decision_maker_met else []
        meetings.append(people.other_met)
        for index, days_ago in meetings:
            day = (before or self.as_of) - timedelta(days=days_ago)
            _meeting(org, account_id, contact_ids[index], owner, day)
        return contact_ids


@dataclass(frozen=True, slots=True)
class People:
    """An account's contacts as drawn — (role, first name, last name, opted out) — and
    how many days ago the decision maker (None: never) and one other contact were met."""

    contacts: tuple[tuple[str, str, str, bool], ...]
    decision_maker_met: int | None
    other_met: tuple[int, int]  # (index of the contact, days ago)


def draw_people(rng: random.Random) -> People:
    """Two to four contacts, the first the decision maker; most accounts met theirs
    recently, some not for months, and other contacts are met too."""
    roles = ["Decision Maker", "Champion", "Admin", "User"][: rng.randint(2, 4)]
    contacts = []
    for role in roles:
        first, last = rng.choice(CONTACT_NAMES), rng.choice(SURNAMES)
        contacts.append((role, first, last, rng.random() < 0.05))
    decision_maker_met = rng.choices(
        [rng.randint(3, 85), rng.randint(95, 300), None], weights=[75, 15, 10]
    )[0]
    other = (rng.choice(range(1, len(roles))), rng.randint(1, 60))
    return People(tuple(contacts), decision_maker_met, other)


def _meeting(org: Org, account_id: str, contact_id: str, owner: str, day: date) -> None:
    start = datetime.combine(day, time(10), UTC)
    org.insert(
        "Event",
        {
            "Subject": "Customer meeting",
            "WhatId": account_id,
            "WhoId": contact_id,
            "OwnerId": owner,
            "Type": "Meeting",
            "StartDateTime": start.isoformat(),
            "EndDateTime": (start + timedelta(hours=1)).isoformat(),
            "ActivityDate": start.date().isoformat(),
        },
    )


@dataclass(frozen=True)
class Contract:
    """A customer's contract: won as new business on `start`, renewed on its anniversaries
    (`deals`: the closed history, see `demo_history.contract_deals`); the next renewal is
    an open opportunity at `arr`."""

    account_id: str
    name: str
    owner: str
    start: date
    arr: float
    deals: tuple[Deal, ...] | list[Deal] = ()
    returned: bool = False  # lost an earlier contract and came back

    def insert_won(self, org: Org) -> None:
        """The closed deals — new business, renewals won and lost, expansions: where the
        account's ARR and the report's retention come from."""
        for deal in self.deals:
            stage = "Closed Won" if deal.won else "Closed Lost"
            org.insert(
                "Opportunity",
                {
                    "Name": f"{self.name} — {deal.kind} {deal.closed.year}",
                    "AccountId": self.account_id,
                    "Type": deal.kind,
                    "StageName": stage,
                    "Amount": deal.amount,
                    "OwnerId": self.owner,
                    "CloseDate": deal.closed.isoformat(),
                },
            )


@dataclass(frozen=True)
class Former:
    """A customer that lost a renewal: a story drawn for one of today's customers that lost
    one (sharing that customer's contract and usage before the story took its course), or
    a customer who left (`DemoCompany._churned`)."""

    contract: Contract
    base: Mapping[str, float | int]
    story: Story
    lost_at: date


def tenant_id(number: int) -> str:
    """A customer's product tenant: `TEN-` and its number, digits only."""
    return f"TEN-{number:04d}"


def former_tenant_id(index: int) -> str:
    """A former customer's product tenant, in a space of its own (`TEN-F`): a number would
    meet a customer's once the book has as many customers, and their usage would merge."""
    return f"TEN-F{index:04d}"


def silent_weeks(number: int) -> int:
    """How many of the latest weeks customer `number` has no usage rows for. Chosen by number,
    not drawn from the generator, so every other customer's data stays the same: customers
    25, 100, … are silent for 3 weeks, 50, 125, … for the whole window, 75, 150, … for 1."""
    if number % SILENT_EVERY:
        return 0
    return SILENT_FOR[(number // SILENT_EVERY - 1) % len(SILENT_FOR)]


def contract_start(rng: random.Random, persona: str, as_of: date) -> date:
    """New customers started weeks ago; a fifth of the rest sit on a 3/6/9/12-month milestone."""
    if persona == "onboarding":
        return as_of - timedelta(days=rng.randint(10, 60))
    if rng.random() < 0.2:
        months = rng.choice([3, 6, 9, 12])
        return add_months(as_of, -months) - timedelta(days=rng.randint(0, 20))
    return as_of - timedelta(days=rng.randint(70, 1200))


def next_anniversary(start: date, as_of: date) -> date:
    years = max(1, as_of.year - start.year)
    anniversary = add_months(start, 12 * years)
    while anniversary <= as_of:
        years += 1
        anniversary = add_months(start, 12 * years)
    return anniversary


def weekly_usage(rng: random.Random, tenant: str, persona: str, as_of: date) -> list[UsageRow]:
    """Eight weeks ending with the week that contains `as_of`, shaped by the persona."""
    seats = rng.choice([5, 8, 10, 15, 20, 30, 40, 60])
    this_week = as_of - timedelta(days=as_of.weekday())
    utilisation, logins_per_seat, scouts = {
        "thriving": (rng.uniform(0.75, 0.95), rng.uniform(3.0, 5.0), rng.randint(60, 140)),
        "steady": (rng.uniform(0.5, 0.75), rng.uniform(1.5, 3.0), rng.randint(25, 60)),
        "low_scouting": (rng.uniform(0.4, 0.7), rng.uniform(1.0, 2.5), rng.randint(4, 18)),
        "declining": (rng.uniform(0.5, 0.8), rng.uniform(2.5, 4.0), rng.randint(20, 50)),
        "onboarding": (rng.uniform(0.1, 0.4), rng.uniform(0.3, 1.5), rng.randint(0, 15)),
        "dormant": (rng.uniform(0.02, 0.15), rng.uniform(0.05, 0.4), rng.randint(0, 4)),
        "champion_change": (rng.uniform(0.4, 0.7), rng.uniform(1.0, 2.5), rng.randint(20, 50)),
    }[persona]
    interview_rate = rng.uniform(0.04, 0.25)
    never_reports = persona == "dormant" or (persona == "onboarding" and rng.random() < 0.5)
    shows_intent = rng.random() < 0.12
    rows = []
    for weeks_ago in range(WEEKS_OF_HISTORY - 1, -1, -1):
        # declining accounts lose a fifth of their activity in each of the last four weeks
        decline = 0.8 ** max(0, 4 - weeks_ago) if persona == "declining" else 1.0
        noise = rng.uniform(0.9, 1.1) if persona != "declining" else 1.0
        handover = persona == "champion_change" and weeks_ago < 3
        rows.append(
            UsageRow(
                tenant,
                this_week - timedelta(weeks=weeks_ago),
                {
                    "logins": round(seats * logins_per_seat * noise * decline),
                    "active_users": max(0, round(seats * utilisation * noise)),
                    "licensed_seats": seats,
                    "scouts_sent": round(scouts * noise * decline),
                    "interviews_held": round(scouts * interview_rate * noise),
                    "reports_exported": 0 if never_reports else rng.randint(0, 6),
                    "new_users": rng.randint(2, 5) if handover else int(rng.random() < 0.08),
                    "admin_logins": 0
                    if handover
                    else rng.randint(0, 2)
                    if persona == "dormant"
                    else rng.randint(3, 15),
                    "pricing_page_views": rng.randint(1, 6)
                    if shows_intent and weeks_ago < 2
                    else 0,
                    "material_downloads": rng.randint(0, 2)
                    if shows_intent and weeks_ago < 2
                    else 0,
                },
            )
        )
    return rows
