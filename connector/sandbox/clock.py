"""A settable clock for the sandboxes, so a test can drive them through simulated days.

The sandbox org and portal stamp CreatedDate / hs_createdate / completion times with their
clock. By default that is the demo date at the current time of day; a soak test sets the
exact instant instead (a 06:00 Asia/Tokyo run is 21:00 UTC the day before), so what the CRM
stamps is the same on every run of the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass
class SandboxClock:
    instant: datetime

    def __post_init__(self) -> None:
        self.set(self.instant)

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the sandbox clock takes an aware datetime, e.g. in UTC")
        self.instant = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self.instant

    def today(self) -> date:
        """The date in UTC, as the sandbox org sees it (SOQL's TODAY, the API usage day)."""
        return self.instant.date()
