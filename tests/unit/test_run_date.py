"""The run's date is the team's date: `SCHEDULE_TIMEZONE`, not the container's clock."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from connector.settings import Settings

# UTC+14 and UTC-12: 26 hours apart, so never on the same date
EARLIEST, LATEST = "Pacific/Kiritimati", "Etc/GMT+12"


def test_the_run_date_is_today_where_the_team_is() -> None:
    kiritimati = Settings(schedule_timezone=EARLIEST).today
    baker_island = Settings(schedule_timezone=LATEST).today

    assert kiritimati == datetime.now(ZoneInfo(EARLIEST)).date()
    assert baker_island == datetime.now(ZoneInfo(LATEST)).date()
    assert (kiritimati - baker_island).days in (1, 2)


def test_as_of_date_overrides_the_clock() -> None:
    settings = Settings(schedule_timezone=EARLIEST, as_of_date=date(2027, 3, 1))
    assert settings.today == date(2027, 3, 1)


def test_an_unknown_time_zone_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="'Asia/Tokio' is not a time zone name"):
        Settings(schedule_timezone="Asia/Tokio")


def test_a_6am_tokyo_run_is_dated_in_tokyo_though_utc_is_still_on_the_day_before() -> None:
    at_six_in_tokyo = datetime(2027, 3, 31, 21, 0, tzinfo=ZoneInfo("UTC"))
    assert Settings(schedule_timezone="Asia/Tokyo").date_at(at_six_in_tokyo) == date(2027, 4, 1)
    assert Settings().date_at(at_six_in_tokyo) == date(2027, 3, 31)
