"""`replay.past`: today's extract rewound to a past day, as the records' dates tell — who
was a customer then, which deals were still open, which weeks of usage a run read."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from connector.config.load import load_config
from connector.extract import Extracted
from connector.frame import CURRENT_PREFIX, Extract
from connector.replay.past import as_it_was, customers_on, open_then
from connector.usage import UsageBatch

ROOT = Path(__file__).resolve().parents[2]
MAPPING = load_config(ROOT / "mappings", ROOT / "playbooks", "salesforce").mapping

DEALS = pl.DataFrame(
    [
        ("o1", "A", "New Business", "Closed Won", date(2024, 1, 1), True, True),
        ("o2", "A", "Renewal", "Closed Lost", date(2025, 1, 1), True, False),
        ("o3", "B", "New Business", "Closed Won", date(2025, 6, 1), True, True),
        ("o4", "C", "New Business", "Closed Won", date(2023, 1, 1), True, True),
        ("o5", "C", "Renewal", "Closed Lost", date(2024, 1, 1), True, False),
        ("o6", "C", "New Business", "Closed Won", date(2024, 7, 1), True, True),  # came back
        ("o7", "C", "Renewal", "Prospecting", date(2025, 7, 1), False, False),
    ],
    schema=["id", "account_id", "type", "stage", "close_date", "closed", "won"],
    orient="row",
)
ACCOUNTS = pl.DataFrame(
    {"id": ["A", "B", "C", "D"], f"{CURRENT_PREFIX}CS_Health_Score__c": [1.0, 2.0, 3.0, 4.0]}
)


def _customers(day: date) -> list[str]:
    return sorted(customers_on(ACCOUNTS, DEALS, MAPPING, day)["id"])


def test_customers_are_those_with_a_won_contract_by_then_and_no_renewal_lost_since() -> None:
    assert _customers(date(2023, 6, 1)) == ["C", "D"]
    assert _customers(date(2024, 3, 1)) == ["A", "D"]  # C lost its renewal in January
    assert _customers(date(2024, 7, 1)) == ["A", "C", "D"]  # and came back in July
    assert _customers(date(2025, 3, 1)) == ["C", "D"]
    assert _customers(date(2025, 6, 1)) == ["B", "C", "D"]


def test_an_account_whose_contract_starts_later_was_not_a_customer_yet() -> None:
    accounts = pl.DataFrame({"id": ["D"], "contract_start": [date(2025, 1, 1)]})

    assert customers_on(accounts, DEALS, MAPPING, date(2024, 12, 31)).is_empty()
    assert customers_on(accounts, DEALS, MAPPING, date(2025, 1, 1)).height == 1


def test_a_customer_who_came_back_counts_by_its_deals_not_its_new_start_date() -> None:
    accounts = pl.DataFrame({"id": ["C"], "contract_start": [date(2024, 7, 1)]})

    assert customers_on(accounts, DEALS, MAPPING, date(2023, 6, 1)).height == 1
    assert customers_on(accounts, DEALS, MAPPING, date(2024, 3, 1)).is_empty()


def test_deals_that_closed_after_the_day_were_open_on_it() -> None:
    then = open_then(DEALS, date(2024, 6, 1)).sort("id")

    assert then.filter(pl.col("closed"))["id"].to_list() == ["o1", "o4", "o5"]
    assert then.filter(pl.col("won"))["id"].to_list() == ["o1", "o4"]
    assert then.filter(pl.col("stage").is_null())["id"].to_list() == ["o2", "o3", "o6"]
    assert then.filter(pl.col("id") == "o7")["stage"].to_list() == ["Prospecting"]


def test_the_past_day_reads_its_own_usage_window_and_none_of_todays_written_values() -> None:
    weeks = [date(2024, 4, 1), date(2024, 5, 6), date(2024, 5, 27), date(2024, 6, 3)]
    usage = pl.DataFrame({"account_key": ["t"] * 4, "week_start": weeks, "logins": [1.0] * 4})
    today = Extracted(
        Extract(ACCOUNTS, DEALS, usage, usage_since=date(2024, 1, 1)),
        UsageBatch(weekly=usage),
    )

    past = as_it_was(today, date(2024, 6, 1), MAPPING, weeks=4)

    assert past.records.usage["week_start"].to_list() == [date(2024, 5, 6), date(2024, 5, 27)]
    assert past.usage.weekly.equals(past.records.usage)
    assert past.records.usage_since == date(2024, 5, 4)
    assert past.records.accounts["id"].to_list() == ["A", "D"]
    assert past.records.accounts[f"{CURRENT_PREFIX}CS_Health_Score__c"].null_count() == 2
