"""The CS team's working days: Monday to Friday, minus the public holidays of its country.

A task is due on a day someone can do it: "due in 3 days" counts working days, so a Friday
alert is due on Wednesday, and in Japan a call is never due on 勤労感謝の日.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the calendars (~0.15 s to import) load when a country is set
    import holidays

SATURDAY = 5


@dataclass(frozen=True)
class Workdays:
    """`country`: an ISO 3166 code whose public holidays are days off (JP, US, DE…); None:
    weekends only."""

    country: str | None = None
    _holidays: holidays.HolidayBase | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if self.country is not None:  # years are added as they are asked about
            import holidays

            object.__setattr__(self, "_holidays", holidays.country_holidays(self.country))

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= SATURDAY:
            return False
        return self._holidays is None or day not in self._holidays

    def add(self, start: date, days: int) -> date:
        """`days` working days after `start`; 0 means `start` itself, or the next working
        day when `start` is a day off."""
        day = start
        while not self.is_working_day(day):
            day += timedelta(days=1)
        for _ in range(days):
            day += timedelta(days=1)
            while not self.is_working_day(day):
                day += timedelta(days=1)
        return day


def supported_countries() -> list[str]:
    import holidays

    return sorted(holidays.list_supported_countries())
