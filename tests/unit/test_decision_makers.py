"""Decision makers by title pattern: the contacts a pattern makes decision makers count for
the meeting roll-up and are who an email to the decision maker reaches."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from connector.config.mapping import ContactMapping, Mapping
from connector.frame.decision_makers import with_title_decision_makers
from connector.frame.rollups import meeting_rollup
from tests.unit.test_emails import choice

FIELDS = {"id": "Id", "account_id": "AccountId", "role": "Role", "title": "Title"}
SPEC = ContactMapping(
    object="Contact",
    fields=FIELDS,
    decision_maker_titles=[r"(?i)\bCEO\b", "(?i)^VP"],
)
CONTACTS = pl.DataFrame(
    {
        "id": ["c1", "c2", "c3", "c4", "c5"],
        "account_id": ["a", "a", "b", "b", "c"],
        "role": ["Champion", None, "Admin", None, "Decision Maker"],
        "title": ["Co-founder & ceo", "Vice chair", "VP Sales", "SVP Ops", None],
        "email": [f"{i}@example.com" for i in ("c1", "c2", "c3", "c4", "c5")],
    }
)


def test_a_title_that_matches_makes_a_decision_maker_and_others_keep_their_role() -> None:
    roles = with_title_decision_makers(CONTACTS, SPEC)["role"].to_list()
    assert roles == ["Decision Maker", None, "Decision Maker", None, "Decision Maker"]


def test_without_patterns_contacts_are_unchanged() -> None:
    exact = ContactMapping(object="Contact", fields=FIELDS)
    assert with_title_decision_makers(CONTACTS, exact).equals(CONTACTS)


def test_a_decision_maker_by_title_counts_for_meetings_and_receives_the_email() -> None:
    contacts = with_title_decision_makers(CONTACTS, SPEC)
    meetings = pl.DataFrame(
        {
            "id": ["m1"],
            "account_id": ["b"],
            "contact_id": ["c3"],
            "start": [datetime(2026, 11, 2, 10, 0, tzinfo=UTC)],
        }
    )
    mapping = _mapping()
    rollup = meeting_rollup(contacts, meetings, mapping, date(2026, 11, 23))
    by_account = {r["id"]: r for r in rollup.rows(named=True)}
    assert {a: r["decision_makers"] for a, r in by_account.items()} == {"a": 1, "b": 1, "c": 1}
    assert by_account["b"]["days_since_decision_maker_meeting"] == 21
    rows: list[dict[str, Any]] = contacts.filter(pl.col("account_id") == "a").to_dicts()
    assert choice(rows, "Decision Maker") == ("c1", "")


def _mapping() -> Mapping:
    return Mapping.model_validate(
        {
            "crm": "salesforce",
            "account": {"object": "Account", "fields": {"id": "Id", "name": "N", "owner_id": "O"}},
            "opportunity": {
                "object": "Opportunity",
                "fields": {
                    "id": "Id",
                    "account_id": "A",
                    "amount": "Amount",
                    "close_date": "C",
                    "type": "T",
                },
            },
            "usage": {"join_key": "tenant_id", "metrics": ["logins"]},
            "contact": SPEC.model_dump(),
            "results": {"health_score": "S__c"},
        }
    )
