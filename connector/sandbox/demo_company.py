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
FORMER_CUSTOMERS = 60  # at most this many lost a renewal in the last two years
SILENT_EVERY = 25  # every 25th customer went silent: for 3 weeks, the whole window, 1 week
SILENT_FOR = (3, WEEKS_OF_HISTORY, 1)
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
            tenant = f"TEN-{number:04d}"
            owner = rng.choice(csm_ids)
            contract = self._customer(org, rng, number, persona, tenant, owner, csm_ids)
            contact_ids, met_days = self._contacts(org, rng, contract.account_id, owner)
            rows = weekly_usage(rng, tenant, persona, self.as_of)
            history = random.Random(f"{self.seed}:history:{number}")
            story, lost = self._lived(history, contract.start, met_weeks(met_days))
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
        for index, gone in enumerate(former[:FORMER_CUSTOMERS], start=1):
            usage += self._former(org, index, gone)
        return usage

    def _lived(
        self, rng: random.Random, start: date, meetings_stop: int | None
    ) -> tuple[Story, list[tuple[Story, date]]]:
        """A story that won every renewal of the last two years, and the ones drawn before
        it that lost one (with the date they lost it): the former customers."""
        renewals = [
            day
            for years in range(1, 40)
            if self.as_of - timedelta(weeks=HISTORY_WEEKS)
            < (day := add_months(start, 12 * years))
            <= self.as_of
        ]
        lost: list[tuple[Story, date]] = []
        for _ in range(MAX_TRIES):
            story = draw_story(rng, meetings_stop)
            losing = next(
                (day for day in renewals if loses_renewal(rng, story, self._weeks_ago(day))),
                None,
            )
            if losing is None:
                return story, lost
            lost.append((story, losing))
        return Story(0.0, None, None, meetings_stop, None, 12), lost

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
        story = Story(0.0, weeks + 20, None, weeks + 26, None, 10)
        self._meetings(org, story, replace(contract, start=began), decision_maker, lost_at)
        deals = contract_deals(began, contract.arr, story, self.as_of, lost_at)
        return deals, (story, self.as_of, self._weeks(began, lost_at), self._weeks_ago(began))

    def _former(self, org: Org, index: int, gone: Former) -> list[UsageRow]:
        """A customer that lost a renewal: an account no longer a customer, its contacts,
        deals, meetings until it left, and its usage up to the renewal it lost."""
        rng = random.Random(f"{self.seed}:former:{index}")
        contract = gone.contract
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {900 + index:03d}"
        tenant = f"TEN-{9000 + index:04d}"
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
        contact_ids, _ = self._contacts(org, rng, account_id, contract.owner, before=gone.lost_at)
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
        arr = float(rng.choice([6, 9, 12, 18, 24, 36, 48, 60, 90, 120, 180]) * 1000)
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
        rng: random.Random,
        account_id: str,
        owner: str,
        before: date | None = None,
    ) -> tuple[list[str], int | None]:
        """Two to four contacts, the first the decision maker; most accounts met theirs
        recently (before `before`, the demo date if None), some not for months, and other
        contacts are met too. Returns the contacts and how many days ago the decision maker
        was last met (None: never)."""
        roles = ["Decision Maker", "Champion", "Admin", "User"][: rng.randint(2, 4)]
        contact_ids = []
        for index, role in enumerate(roles):
            first, last = rng.choice(CONTACT_NAMES), rng.choice(SURNAMES)
            contact_ids.append(
                org.insert(
                    "Contact",
                    {
                        "AccountId": account_id,
                        "FirstName": first,
                        "LastName": last,
                        "Email": f"{first.lower()}.{index}@c{account_id[-5:].lower()}.example",
                        "Title": role,
                        "CS_Role__c": role,
                        "IsPrimary__c": index == 0,
                        "HasOptedOutOfEmail": rng.random() < 0.05,
                    },
                )
            )
        decision_maker_met = rng.choices(
            [rng.randint(3, 85), rng.randint(95, 300), None], weights=[75, 15, 10]
        )[0]
        meetings = [(contact_ids[0], decision_maker_met)] if decision_maker_met else []
        meetings.append((rng.choice(contact_ids[1:]), rng.randint(1, 60)))
        for contact_id, days_ago in meetings:
            day = (before or self.as_of) - timedelta(days=days_ago)
            _meeting(org, account_id, contact_id, owner, day)
        return contact_ids, decision_maker_met


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
    """A story drawn for a customer that lost a renewal: a former customer, who shares
    the customer's contract and usage before the story took its course."""

    contract: Contract
    base: Mapping[str, float | int]
    story: Story
    lost_at: date


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
