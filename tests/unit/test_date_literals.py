"""With AS_OF_DATE, a Salesforce mapping's relative date literals count from that day."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from connector.crm.salesforce.date_literals import anchored
from connector.errors import CrmError

DAY = date(2026, 3, 10)
TOKYO = ZoneInfo("Asia/Tokyo")


def _types(path: str) -> str:
    return "datetime" if path.endswith("DateTime") else "date"


@pytest.mark.parametrize(
    ("where", "dated"),
    [
        (
            "StartDateTime = LAST_N_DAYS:30",  # Tokyo's days: midnight is 15:00 UTC before
            "(StartDateTime >= 2026-02-07T15:00:00Z AND StartDateTime < 2026-03-10T15:00:00Z)",
        ),
        ("CloseDate = LAST_N_DAYS:30", "(CloseDate >= 2026-02-08 AND CloseDate < 2026-03-11)"),
        ("CloseDate < TODAY", "CloseDate < 2026-03-10"),
        ("CloseDate <= YESTERDAY", "CloseDate < 2026-03-10"),
        ("CloseDate > NEXT_N_DAYS:7", "CloseDate >= 2026-03-18"),
        ("CloseDate >= last_90_days", "CloseDate >= 2025-12-10"),
        ("CloseDate = N_DAYS_AGO:3", "(CloseDate >= 2026-03-07 AND CloseDate < 2026-03-08)"),
        (
            "CloseDate != TOMORROW",
            "(CloseDate < 2026-03-11 OR CloseDate >= 2026-03-12 OR CloseDate = null)",
        ),
        (
            "IsClosed = false AND Name != 'LAST_N_DAYS:3' AND Amount > 5",
            "IsClosed = false AND Name != 'LAST_N_DAYS:3' AND Amount > 5",
        ),
    ],
)
def test_relative_literals_become_bounds_from_the_run_date(where: str, dated: str) -> None:
    assert anchored(where, DAY, TOKYO, _types) == dated


@pytest.mark.parametrize("literal", ["THIS_MONTH", "LAST_N_WEEKS:2", "N_YEARS_AGO:1"])
def test_literals_counted_in_weeks_or_months_are_refused_not_approximated(literal: str) -> None:
    with pytest.raises(CrmError, match="cannot be moved to AS_OF_DATE; write it in days"):
        anchored(f"CloseDate = {literal}", DAY, TOKYO, _types)
