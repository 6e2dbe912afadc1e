"""A CRM timestamp's date is the team's date: a Tokyo CSM who closes a task at 08:00 closed
it that day, though it is still the day before in UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from connector.config.mapping import ContactMapping, Mapping
from connector.crm.hubspot.describe import epoch_ms
from connector.crm.hubspot.ledger import TaskLedger
from connector.crm.salesforce.read import date_in
from connector.frame.rollups import meeting_rollup
from connector.settings import Settings

TOKYO = ZoneInfo("Asia/Tokyo")
MORNING_IN_TOKYO = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # 08:30 on 11-23 in Tokyo


@pytest.mark.parametrize(("zone", "day"), [(UTC, date(2026, 11, 22)), (TOKYO, date(2026, 11, 23))])
def test_a_salesforce_completion_time_is_dated_where_the_team_is(zone: Any, day: date) -> None:
    assert date_in("2026-11-22T23:30:00.000+0000", zone) == day


@pytest.mark.parametrize(("zone", "day"), [(UTC, date(2026, 11, 22)), (TOKYO, date(2026, 11, 23))])
def test_a_hubspot_completion_time_is_dated_where_the_team_is(zone: Any, day: date) -> None:
    ledger = TaskLedger(
        api=None,  # type: ignore[arg-type]  # reading a task's dates needs no call
        store=None,  # type: ignore[arg-type]
        tasks=Mapping.model_fields["tasks"].default,
        account_object="companies",
        zone=zone,
    )
    task = SimpleNamespace(
        id=1,
        properties={
            "hs_task_status": "COMPLETED",
            "hs_task_completion_date": MORNING_IN_TOKYO.isoformat(),
        },
    )
    assert ledger._existing(task).completed_on == day


def test_the_cooldown_search_starts_at_the_teams_midnight() -> None:
    tokyo_midnight = datetime(2026, 11, 23, tzinfo=TOKYO)
    assert epoch_ms(date(2026, 11, 23), TOKYO) == int(tokyo_midnight.timestamp() * 1000)


@pytest.mark.parametrize(("zone", "days_since"), [("UTC", 1), ("Asia/Tokyo", 0)])
def test_a_meeting_is_dated_where_the_team_met(zone: str, days_since: int) -> None:
    mapping = SimpleNamespace(
        contact=ContactMapping(
            object="Contact", fields={"id": "Id", "account_id": "AccountId", "role": "Role__c"}
        )
    )
    contacts = pl.DataFrame({"id": ["c1"], "account_id": ["a1"], "role": ["Decision Maker"]})
    meetings = pl.DataFrame(
        {"account_id": ["a1"], "contact_id": ["c1"], "start": [MORNING_IN_TOKYO]},
        schema={
            "account_id": pl.String,
            "contact_id": pl.String,
            "start": pl.Datetime("ms", "UTC"),
        },
    )
    (row,) = meeting_rollup(contacts, meetings, mapping, date(2026, 11, 23), zone).rows(named=True)  # type: ignore[arg-type]
    assert row["days_since_decision_maker_meeting"] == days_since


def test_the_team_zone_is_the_schedule_zone() -> None:
    assert Settings(schedule_timezone="Asia/Tokyo").zone == TOKYO
