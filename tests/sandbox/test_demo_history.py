"""The demo company's two years: the same every time, renewals won and lost on anniversaries,
and lost far more often where usage fell and nobody met the decision maker — read from the
records and usage a worker sees, not from the latent story."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from functools import cache
from typing import Any

from connector.sandbox.demo_company import LEFT_TITLE, DemoCompany
from connector.sandbox.salesforce import DEFAULT_SCHEMA, SandboxOrg
from connector.sandbox.usage_api import UsageRow

AS_OF = date(2026, 11, 26)
STAMPS = {"CreatedDate", "LastModifiedDate", "SystemModstamp"}


@cache
def _company(seed: int = 7) -> tuple[SandboxOrg, tuple[UsageRow, ...]]:
    org = SandboxOrg(DEFAULT_SCHEMA, today=lambda: AS_OF)
    return org, tuple(DemoCompany(AS_OF, seed=seed).populate(org))


def _records(org: SandboxOrg, sobject: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in STAMPS} for r in org.records(sobject)]


def test_the_history_is_the_same_every_time_for_a_seed() -> None:
    first_org, first_usage = _company()
    again = SandboxOrg(DEFAULT_SCHEMA, today=lambda: AS_OF)
    usage = DemoCompany(AS_OF).populate(again)

    assert tuple(usage) == first_usage
    for sobject in ("Account", "Opportunity", "Contact", "Event"):
        assert _records(again, sobject) == _records(first_org, sobject)
    other = SandboxOrg(DEFAULT_SCHEMA, today=lambda: AS_OF)
    assert DemoCompany(AS_OF, seed=8).populate(other) != list(first_usage)


def test_customers_renewed_and_former_customers_lost_their_last_renewal_but_one_came_back() -> None:
    org, _ = _company()
    deals: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for deal in org.records("Opportunity"):
        if deal["IsClosed"]:
            deals[deal["AccountId"]].append(deal)
    kinds = {a["Id"]: a["Type"] for a in org.records("Account")}
    former = [a for a, kind in kinds.items() if kind == "Former Customer"]

    assert 60 <= len(former) <= 100  # the stories that lost, and customers who left beside
    returned = []
    for account, closed in deals.items():
        lost = [d for d in closed if not d["IsWon"]]
        last = max(closed, key=lambda d: d["CloseDate"])
        if kinds[account] == "Customer" and lost:  # churned, then won back as new business
            returned.append(account)
            (renewal,) = lost
            assert last["IsWon"]
            assert any(
                d["Type"] == "New Business" and d["CloseDate"] > renewal["CloseDate"]
                for d in closed
            )
        elif kinds[account] != "Customer":
            assert lost == [last]
            assert last["Type"] == "Renewal"
            assert last["CloseDate"] > (AS_OF - timedelta(weeks=104)).isoformat()
    assert len(returned) == 1
    renewals = [d for c in deals.values() for d in c if d["Type"] == "Renewal"]
    assert sum(not d["IsWon"] for d in renewals) == len(former) + 1


def _signals(org: SandboxOrg, usage: tuple[UsageRow, ...]) -> list[tuple[bool, bool, bool]]:
    """(usage fell, no decision-maker meeting in 90 days, lost) for each closed renewal of
    the last two years, as of 90 days before it closed — what a snapshot then held."""
    tenants = {a["Id"]: a["Product_Tenant_Id__c"] for a in org.records("Account")}
    logins: dict[str, dict[date, float]] = defaultdict(dict)
    for row in usage:
        logins[row.account_key][row.week_start] = float(row.metrics["logins"])
    deciders = {c["Id"] for c in org.records("Contact") if c["CS_Role__c"] == "Decision Maker"}
    met: dict[str, list[date]] = defaultdict(list)
    for event in org.records("Event"):
        if event["WhoId"] in deciders:
            met[event["WhatId"]].append(date.fromisoformat(event["ActivityDate"]))
    found = []
    for deal in org.records("Opportunity"):
        closed = date.fromisoformat(deal["CloseDate"])
        if (
            deal["Type"] != "Renewal"
            or not deal["IsClosed"]
            or closed < AS_OF - timedelta(weeks=90)
        ):
            continue
        seen = closed - timedelta(days=90)
        weeks = logins[tenants[deal["AccountId"]]]
        recent = [v for w, v in weeks.items() if seen - timedelta(weeks=4) < w <= seen]
        earlier = [
            v
            for w, v in weeks.items()
            if seen - timedelta(weeks=16) < w <= seen - timedelta(weeks=12)
        ]
        fell = bool(recent and earlier) and sum(recent) < 0.75 * sum(earlier)
        unmet = not any(seen - timedelta(days=90) <= d <= seen for d in met[deal["AccountId"]])
        found.append((fell, unmet, not deal["IsWon"]))
    return found


def test_renewals_are_lost_far_more_often_where_usage_fell_and_nobody_met_the_decider() -> None:
    org, usage = _company()
    renewals = _signals(org, usage)
    both = [lost for fell, unmet, lost in renewals if fell and unmet]
    others = [lost for fell, unmet, lost in renewals if not (fell and unmet)]

    assert len(both) >= 5
    rate_both, rate_others = sum(both) / len(both), sum(others) / len(others)
    assert rate_both > 3 * rate_others
    assert 0 < sum(both) < len(both)  # drawn with noise: some of them still renewed
    assert sum(others) > 0  # and some others lost for reasons of their own


def _weekly(usage: tuple[UsageRow, ...], metric: str) -> dict[str, dict[int, float]]:
    """Each tenant's `metric` by weeks before the demo date's week."""
    this_week = AS_OF - timedelta(days=AS_OF.weekday())
    series: dict[str, dict[int, float]] = defaultdict(dict)
    for row in usage:
        weeks_ago = (this_week - row.week_start).days // 7
        series[row.account_key][weeks_ago] = float(row.metrics[metric])
    return series


def _customers(org: SandboxOrg) -> dict[str, str]:
    return {
        a["Product_Tenant_Id__c"]: a["Id"]
        for a in org.records("Account")
        if a["Type"] == "Customer"
    }


def test_a_customer_declining_now_began_to_decline_in_its_history() -> None:
    """The current weeks are the end of the story: a customer whose logins fall through its
    last four weeks (the declining persona) was more active months before them."""
    org, usage = _company()
    logins = _weekly(usage, "logins")
    declining = [
        tenant
        for tenant in _customers(org)
        if {0, 4} <= logins[tenant].keys() and logins[tenant][0] < 0.5 * logins[tenant][4]
    ]

    assert len(declining) >= 20
    for tenant in declining:
        weeks = logins[tenant]
        before = [weeks[w] for w in range(17, 21) if w in weeks]
        if not before:  # a contract too young for months of history
            continue
        assert sum(before) / len(before) > 1.15 * (weeks[9] + weeks[10]) / 2, tenant


def test_a_champion_who_left_is_marked_on_the_contact() -> None:
    """A customer whose admin went quiet while new users appeared (a champion change now)
    has its champion contact marked as gone, as CS teams do; a champion marked so left in
    the account's history or now."""
    org, usage = _company()
    admin, new_users = _weekly(usage, "admin_logins"), _weekly(usage, "new_users")
    changed = {
        account
        for tenant, account in _customers(org).items()
        if all(admin[tenant].get(w) == 0 and new_users[tenant].get(w, 0) >= 2 for w in (0, 1, 2))
    }
    gone = {c["AccountId"] for c in org.records("Contact") if c["Title"] == LEFT_TITLE}
    champions = {c["CS_Role__c"] for c in org.records("Contact") if c["Title"] == LEFT_TITLE}

    assert len(changed) >= 5
    assert changed <= gone
    assert len(gone) > len(changed)  # champions who left earlier in the history
    assert champions == {"Champion"}


def test_every_tenant_week_of_usage_comes_once() -> None:
    _, usage = _company()
    weeks = {(row.account_key, row.week_start) for row in usage}

    assert len(weeks) == len(usage)
    assert any(key.startswith("TEN-F") for key, _ in weeks)  # the former customers' own
