"""Closed deals as the store keeps them: kinds from the mapping's types, lost ones kept, and
a closed-lost renewal never mistaken for the open one."""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.config.mapping import Mapping
from connector.frame.deals import closed_deals
from connector.frame.rollups import open_opportunities
from connector.store import CLOSED_DEAL_SCHEMA


def _mapping(**fields: str) -> Mapping:
    return Mapping.model_validate(
        {
            "crm": "salesforce",
            "account": {
                "object": "Account",
                "fields": {"id": "Id", "name": "Name", "owner_id": "OwnerId"},
            },
            "opportunity": {
                "object": "Opportunity",
                "fields": {
                    "id": "Id",
                    "account_id": "AccountId",
                    "amount": "Amount",
                    "close_date": "CloseDate",
                    "type": "Type",
                    **fields,
                },
            },
            "usage": {"join_key": "id", "metrics": ["logins"]},
            "results": {"health_score": "Score__c"},
        }
    )


OPPORTUNITIES = pl.DataFrame(
    {
        "id": ["o1", "o2", "o3", "o4", "o5"],
        "account_id": ["a", "a", "b", "b", "c"],
        "amount": [100.0, 20.0, 50.0, 60.0, 10.0],
        "close_date": [
            date(2026, 1, 1),
            date(2026, 3, 1),
            date(2026, 2, 1),
            None,
            date(2026, 4, 1),
        ],
        "type": ["New Business", "Expansion", "Renewal", "Renewal", "Services"],
        "won": [True, True, False, False, True],
        "closed": [True, True, True, False, True],
        "term_months": [24.0, None, None, None, None],
    }
)


def test_closed_deals_keep_won_and_lost_with_their_kind() -> None:
    mapping = _mapping(won="IsWon", closed="IsClosed", term_months="Term__c")

    deals = closed_deals(OPPORTUNITIES, mapping)

    assert deals.schema == pl.Schema(CLOSED_DEAL_SCHEMA)
    assert deals.select("deal_id", "kind", "won", "term_months").rows() == [
        ("o1", "new_business", True, 24.0),
        ("o2", "expansion", True, None),
        ("o3", "renewal", False, None),
        ("o5", "other", True, None),
    ]


def test_without_closed_mapped_no_deal_is_kept() -> None:
    deals = closed_deals(OPPORTUNITIES.drop("closed"), _mapping(won="IsWon"))
    assert deals.height == 0


def test_a_closed_lost_renewal_is_not_an_open_one() -> None:
    assert open_opportunities(OPPORTUNITIES)["id"].to_list() == ["o4"]
    assert open_opportunities(OPPORTUNITIES.drop("closed"))["id"].to_list() == ["o3", "o4"]
