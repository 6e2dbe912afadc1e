"""Tasks fall due on working days: weekends and the team's public holidays are skipped."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from connector.settings import Settings
from connector.workdays import Workdays

FRIDAY = date(2026, 11, 20)
LABOR_THANKSGIVING = date(2026, 11, 23)  # 勤労感謝の日, a Monday


@pytest.mark.parametrize(
    ("country", "start", "days", "due"),
    [
        pytest.param(None, FRIDAY, 0, FRIDAY, id="due today on a working day"),
        pytest.param(None, FRIDAY, 1, date(2026, 11, 23), id="Friday + 1 is Monday"),
        pytest.param(
            "JP", FRIDAY, 1, date(2026, 11, 24), id="and Tuesday when Monday is a holiday"
        ),
        pytest.param(None, date(2026, 11, 21), 0, date(2026, 11, 23), id="Saturday + 0 is Monday"),
        pytest.param("JP", LABOR_THANKSGIVING, 0, date(2026, 11, 24), id="a holiday + 0"),
        pytest.param("JP", FRIDAY, 5, date(2026, 11, 30), id="a week across a holiday"),
        pytest.param("JP", date(2026, 12, 30), 2, date(2027, 1, 4), id="across New Year's Day"),
        pytest.param("US", date(2026, 11, 25), 1, date(2026, 11, 27), id="US: Thanksgiving"),
    ],
)
def test_due_dates_count_working_days(
    country: str | None, start: date, days: int, due: date
) -> None:
    assert Workdays(country).add(start, days) == due


def test_no_due_date_in_a_year_falls_on_a_weekend_or_a_japanese_holiday() -> None:
    workdays = Workdays("JP")
    dues = {
        workdays.add(date(2026, 1, 1).replace(day=1, month=m), n)
        for m in range(1, 13)
        for n in range(0, 30)
    }
    assert all(workdays.is_working_day(due) for due in dues)
    assert not any(due.weekday() >= 5 for due in dues)


def test_the_holiday_country_is_a_setting_and_checked() -> None:
    assert Settings(holiday_country="jp").workdays == Workdays("JP")
    assert Settings(holiday_country="").holiday_country is None
    with pytest.raises(ValidationError, match="HOLIDAY_COUNTRY 'XX' is not a country"):
        Settings(holiday_country="XX")
