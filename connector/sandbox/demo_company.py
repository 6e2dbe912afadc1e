"""The demo company: a recruiting SaaS with a few hundred customers, generated the same way
every time from a seed and a date, so the demo, the tests and the benchmarks agree.

Each customer follows a persona (thriving, steady, low scouting, declining logins, new and
onboarding, dormant) so every alert in `playbooks/` fires on some accounts and not on others.
Every 25th customer has also stopped using the product (see `silent_weeks`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

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
WEEKS_OF_HISTORY = 8
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
        """Insert users, accounts, opportunities and contacts; return the usage series."""
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
        for number in range(1, self.customers + 1):
            persona = rng.choices(list(PERSONAS), weights=list(PERSONAS.values()))[0]
            tenant = f"TEN-{number:04d}"
            owner = rng.choice(csm_ids)
            contract = self._customer(org, rng, number, persona, tenant, owner, csm_ids)
            contracts.append(contract)
            self._contacts(org, rng, contract.account_id, owner)
            rows = weekly_usage(rng, tenant, persona, self.as_of)
            usage += rows[: len(rows) - silent_weeks(number)]
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
            contract.insert_won(org, self.as_of)
        return usage

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

    def _contacts(self, org: Org, rng: random.Random, account_id: str, owner: str) -> None:
        """Two to four contacts, the first the decision maker; most accounts met theirs
        recently, some not for months, and other contacts are met too."""
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
            start = datetime.combine(self.as_of - timedelta(days=days_ago), time(10), UTC)
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
    """A customer's contract: won as new business on `start` for `arr` a year, renewed at the
    same ARR on each anniversary so far (the next renewal is an open opportunity)."""

    account_id: str
    name: str
    owner: str
    start: date
    arr: float

    def insert_won(self, org: Org, as_of: date) -> None:
        """The closed-won new business and renewals: where the account's ARR comes from."""
        terms = [("New Business", self.start)]
        years = 1
        while (anniversary := add_months(self.start, 12 * years)) <= as_of:
            terms.append(("Renewal", anniversary))
            years += 1
        for kind, closed in terms:
            org.insert(
                "Opportunity",
                {
                    "Name": f"{self.name} — {kind} {closed.year}",
                    "AccountId": self.account_id,
                    "Type": kind,
                    "StageName": "Closed Won",
                    "Amount": self.arr,
                    "OwnerId": self.owner,
                    "CloseDate": closed.isoformat(),
                },
            )


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


def add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    for candidate in (day.day, 30, 29, 28):  # clamp the 31st etc. to the month's last day
        try:
            return date(year, month + 1, candidate)
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")


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
